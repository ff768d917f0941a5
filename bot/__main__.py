"""Command line: ``python -m bot <command>``. Parses arguments and calls one function per command."""
from __future__ import annotations

import argparse
import sys


def _content_options(parser: argparse.ArgumentParser, one_flow: bool = True) -> None:
    """--flows and --locales: the folders to read (default: the repository's); --flow: which flow."""
    if one_flow:
        parser.add_argument("--flow")
    parser.add_argument("--flows")
    parser.add_argument("--locales")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description="First-contact bot for young people facing sextortion.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the web server (LINE webhook, web chat, console)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--demo", action="store_true", help="SQLite, a demo counsellor, no LINE or Discord account needed")
    sub.add_parser("worker", help="run turns and deliver the outbox (PostgreSQL deployments)")
    sub.add_parser("discord", help="run the Discord client")

    d = sub.add_parser("db", help="database schema")
    d.add_argument("action", choices=["upgrade"])
    sub.add_parser("purge", help="apply the retention rules now")
    ky = sub.add_parser("keys", help="the secret key ring (BOT_SECRET_KEYS)")
    ky.add_argument("action", choices=["rotate"],
                    help="re-encrypt and re-pseudonymise everything stored under the newest key")

    c = sub.add_parser("counsellor", help="manage counsellor accounts (a new password or disabling ends every login)")
    c.add_argument("action", choices=["add", "password", "disable", "role", "list", "totp"],
                   help="totp: a new second factor (TOTP and recovery codes), printed once; ends its logins")
    c.add_argument("name", nargs="?")
    c.add_argument("--password", help="read from standard input when omitted")
    c.add_argument("--role", choices=["counsellor", "supervisor", "editor", "admin"],
                   help="with add (default counsellor) or role: what the account may do")

    a = sub.add_parser("audit", help="the audit log")
    a.add_argument("action", choices=["verify"], help="check the hash chain; exit 1 and name the row if broken")

    k = sub.add_parser("check", help="validate every flow, locale and resource")
    k.add_argument("--fail-on-warnings", action="store_true")
    _content_options(k, one_flow=False)

    ch = sub.add_parser("chat", help="talk to the bot in the terminal")
    ch.add_argument("--locale", choices=None)
    ch.add_argument("--json", action="store_true", help="one message per input line, one JSON object per output line")
    _content_options(ch)

    g = sub.add_parser("graph", help="draw the flow: boxes say what the bot says, a legend explains the arrows")
    g.add_argument("--format", choices=["dot", "svg", "html", "mermaid"], default="dot",
                   help="dot (Graphviz), svg or html (need Graphviz's dot installed), mermaid")
    g.add_argument("--part", help="only the states with this tag (a part of the conversation), and where they lead")
    g.add_argument("--hide-human", action="store_true", help='leave out the "talk to a person" arrows')
    g.add_argument("--lang", help="the language of the texts on the boxes (default: the flow's, Japanese)")
    _content_options(g)

    x = sub.add_parser("explain", help="show how the bot reads a message: words, intents, where it leads")
    x.add_argument("texts", nargs="*", help="messages (read from standard input, one per line, when none)")
    x.add_argument("--state", help="the state the person is in (default: a first message)")
    x.add_argument("--json", action="store_true")
    _content_options(x)

    e = sub.add_parser("eval", help="measure understanding on the evaluation set (tests/data/understanding.tsv)")
    e.add_argument("--set", help="a TSV file: split, locale, where, message, expected")
    e.add_argument("--split", choices=["dev", "test", "all"], default="all")
    e.add_argument("--summary", action="store_true", help="figures only, no example messages")
    e.add_argument("--json", action="store_true", help="one line of figures per split")
    e.add_argument("--floor", help="fail only below these recorded figures (JSON per split) instead of the targets")
    e.add_argument("--record-floor", help="write today's figures to this file as the floor")
    _content_options(e)

    tr = sub.add_parser("train", help="fit the understanding model on the dev rows of the evaluation set (needs scikit-learn)")
    tr.add_argument("--set", help="the evaluation set (default tests/data/understanding.tsv)")
    tr.add_argument("--out", help="where to write the model (default flows/understanding_model.json)")
    tr.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    tr.add_argument("--by-round", action="store_true",
                    help="leave one round out: fit on the other rounds, run the whole bot on each round's dev rows")
    tr.add_argument("--json-out", help="with --by-round: write the figures per round and language here")
    tr.add_argument("--verbose", action="store_true", help="with --by-round: the fitting's own figures")
    _content_options(tr)

    _flows_parser(sub)

    t = sub.add_parser("test", help="run conversation tests written in YAML")
    t.add_argument("files", nargs="*")
    t.add_argument("--min-coverage", type=float, default=0.0, help="fail when fewer than this %% of states are visited")
    t.add_argument("--update", action="store_true", help="rewrite expectations from what the bot does now")
    _content_options(t, one_flow=False)
    return p


def _flows_parser(sub) -> None:
    f = sub.add_parser("flows", help="versions of what the bot says, in the database: export, import, publish, restore")
    f.add_argument("--author", help="who does this (default cli:<your user name>)")
    fs = f.add_subparsers(dest="flows_action", required=True)
    ex = fs.add_parser("export", help="write a version as the YAML files: DIR/flows, DIR/locales")
    ex.add_argument("dir")
    ex.add_argument("--version", type=int, help="which version (default: the published one)")
    im = fs.add_parser("import", help="make a draft version from DIR/flows and DIR/locales (refused if `check` finds errors)")
    im.add_argument("dir")
    im.add_argument("--note", required=True, help="what changed, for the list of versions")
    im.add_argument("--publish", action="store_true", help="publish it at once")
    pu = fs.add_parser("publish", help="make a draft live in every process (runs the conversation tests first)")
    pu.add_argument("version", type=int)
    re = fs.add_parser("restore", help="serve an earlier version again (published as a new copy)")
    re.add_argument("version", type=int)
    fs.add_parser("list", help="the versions, newest first")
    di = fs.add_parser("diff", help="what changed from version A to version B, in words and as YAML")
    di.add_argument("a", type=int)
    di.add_argument("b", type=int)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cmd = args.command
    if cmd in ("check", "chat", "graph", "test", "explain"):
        from bot import commands

        return getattr(commands, f"run_{cmd}")(args)
    if cmd == "eval":
        from bot.evaluation import run_eval

        return run_eval(args)
    if cmd == "train":
        from bot.training import run_train

        return run_train(args)
    from bot.settings import Settings, SettingsError

    try:
        settings = Settings.for_demo() if getattr(args, "demo", False) else Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if cmd == "serve":
        from bot.app import run_serve

        return run_serve(settings, host=args.host, port=args.port, demo=args.demo)
    if cmd == "worker":
        from bot.app import run_worker

        return run_worker(settings)
    if cmd == "discord":
        from bot.app import run_discord

        return run_discord(settings)
    if cmd == "db":
        from bot.store.commands import run_upgrade

        return run_upgrade(settings)
    if cmd == "purge":
        from bot.store.commands import run_purge

        return run_purge(settings)
    if cmd == "counsellor":
        from bot.handoff.accounts import run_counsellor

        return run_counsellor(settings, args.action, args.name, args.password, args.role)
    if cmd == "audit":
        from bot.store.commands import run_verify

        return run_verify(settings)
    if cmd == "flows":
        from bot.flowcommands import run_flows

        return run_flows(settings, args)
    if cmd == "keys":
        from bot.store.commands import run_rotate

        return run_rotate(settings)
    return 2


if __name__ == "__main__":
    sys.exit(main())
