"""The engine's commands: check, chat, graph, test. No store, no network: they run on a laptop."""
from __future__ import annotations

import datetime as dt
import html
import json
import shutil
import subprocess
import sys
from pathlib import Path

from bot.engine import Bundle, Turn, UserInput, load_bundle, step
from bot.engine.graph import to_dot, to_mermaid

ROOT = Path(__file__).resolve().parent.parent


def _dirs(args) -> tuple[Path, Path]:
    flows = Path(args.flows) if getattr(args, "flows", None) else ROOT / "flows"
    locales = Path(args.locales) if getattr(args, "locales", None) else ROOT / "locales"
    return flows, locales


def _bundle(args) -> Bundle:
    flows, locales = _dirs(args)
    return load_bundle(flows, locales, dt.date.today())


CHECKED = {
    "en": "checked {flows} flow(s), {states} states, locales {locales}: {errors} error(s), {warnings} warning(s)",
    "ja": "確認しました：フロー {flows} 個、状態 {states} 個、言語 {locales}：エラー {errors} 件、注意 {warnings} 件",
}


def _checked_bundle(args) -> Bundle | None:
    """The bundle, or None after printing its errors (the commands that run the flow need it clean)."""
    bundle = _bundle(args)
    if bundle.errors:
        _print_issues(bundle)
        return None
    return bundle


def _language() -> str:
    """The language of the messages (``BOT_LANG``, else the locale); English if it is not valid."""
    from bot.settings import SettingsError, message_language

    try:
        return message_language()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return "en"


def _print_issues(bundle: Bundle, stream=sys.stderr, lang: str | None = None) -> None:
    lang = lang or _language()
    for issue in sorted(bundle.issues, key=lambda i: (i.severity != "error", i.file, i.line or 0)):
        print(issue.describe(lang), file=stream)


def run_check(args) -> int:
    lang = _language()
    bundle = _bundle(args)
    _print_issues(bundle, sys.stdout, lang)
    errors, warnings = len(bundle.errors), len(bundle.warnings)
    states = sum(len(f.states) for f in bundle.flows.values())
    print(CHECKED[lang].format(flows=len(bundle.flows), states=states, locales=", ".join(bundle.locales) or "-",
                               errors=errors, warnings=warnings))
    if errors or (args.fail_on_warnings and warnings):
        return 1
    return 0


def _turn_json(turn: Turn) -> dict:
    return {
        "state": turn.session.state,
        "tags": list(turn.tags),
        "locale": turn.session.locale,
        "matched": turn.matched,
        "messages": [
            {"text": r.text,
             "choices": [{"id": c.id, "label": c.label} for c in r.choices],
             "links": [{"label": l.label, "url": l.url} for l in r.links]}
            for r in turn.replies
        ],
        "effects": [e.to_dict() for e in turn.effects],
    }


def _parse_line(line: str) -> UserInput:
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("choice"), str):
            return UserInput.tapped(obj["choice"], obj.get("from_state"))
    return UserInput.typed(line.rstrip("\n"))


def _render(turn: Turn) -> str:
    out = []
    number = 0
    for r in turn.replies:
        if r.text:
            out.append("bot> " + r.text.replace("\n", "\n     "))
        for link in r.links:
            status = {True: " (open now)", False: " (closed now)", None: ""}[link.open_now]
            out.append(f"     ☎ {link.label}{status}  {link.url}")
        for c in r.choices:
            number += 1
            out.append(f"     [{number}] {c.label}")
    for e in turn.effects:
        out.append(f"     ({e.type}{' ' + json.dumps(dict(e.params), ensure_ascii=False) if e.params else ''})")
    return "\n".join(out)


def run_chat(args) -> int:
    bundle = _checked_bundle(args)
    if bundle is None:
        return 1
    flow = bundle.flow(args.flow)
    if args.locale and args.locale not in flow.locales:
        print(f"--locale must be one of {', '.join(flow.locales)}", file=sys.stderr)
        return 2
    now = lambda: dt.datetime.now(dt.timezone.utc)  # noqa: E731 - the shell owns the clock
    turn = step(flow, None, UserInput("start", locale_hint=args.locale), now())
    session = turn.session
    if args.json:
        out = sys.stdout
        out.write(json.dumps(_turn_json(turn), ensure_ascii=False) + "\n")
        out.flush()
        for line in sys.stdin:
            turn = step(flow, session, _parse_line(line), now())
            session = turn.session
            out.write(json.dumps(_turn_json(turn), ensure_ascii=False) + "\n")
            out.flush()
        return 0
    print(_render(turn))
    offered = [c for r in turn.replies for c in r.choices]
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        # In the terminal a bare number picks a shown choice, like a tap.
        user_input = UserInput.typed(line)
        if line.strip().isdigit() and 0 < int(line.strip()) <= len(offered):
            user_input = UserInput.tapped(offered[int(line.strip()) - 1].id, session.state)
        turn = step(flow, session, user_input, now())
        session = turn.session
        offered = [c for r in turn.replies for c in r.choices]
        print(_render(turn))


GRAPH_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{margin:1rem;font-family:"Noto Sans CJK JP",sans-serif}} svg{{max-width:100%;height:auto}}</style>
</head><body><h1>{title}</h1>
{svg}
</body></html>
"""


def run_graph(args) -> int:
    """The flow as DOT (default), Mermaid, or SVG / an HTML page (these need Graphviz's ``dot``,
    an optional system package; nothing is fetched from the network)."""
    bundle = _checked_bundle(args)
    if bundle is None:
        return 1
    flow = bundle.flow(args.flow)
    tags = sorted({t for st in flow.states.values() for t in st.tags})
    if args.part and args.part not in tags:
        from bot.engine.errors import did_you_mean

        hint = did_you_mean(args.part, tags)
        print(f"--part: no state is tagged {args.part!r}" + (f'; did you mean "{hint}"?' if hint else "")
              + f" Parts: {', '.join(tags)}", file=sys.stderr)
        return 2
    lang = args.lang or flow.default_locale
    if args.format == "mermaid":
        print(to_mermaid(flow, lang, args.part, args.hide_human), end="")
        return 0
    dot = to_dot(flow, lang, args.part, args.hide_human)
    if args.format == "dot":
        print(dot, end="")
        return 0
    if shutil.which("dot") is None:
        print(f"--format {args.format} needs Graphviz's `dot` (Debian: apt-get install graphviz). "
              "--format dot writes the diagram without it.", file=sys.stderr)
        return 2
    rendered = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, timeout=120)
    if rendered.returncode != 0:
        print(f"dot failed: {rendered.stderr.strip()}", file=sys.stderr)
        return 1
    svg = rendered.stdout
    if args.format == "html":
        svg = svg[svg.find("<svg"):]  # the page gives the doctype
        title = html.escape(f"{flow.name}" + (f" · {args.part}" if args.part else ""))
        svg = GRAPH_PAGE.format(lang=lang, title=title, svg=svg)
    print(svg, end="")
    return 0


def run_test(args) -> int:
    from bot.convtest import default_files, run_files
    from bot.convupdate import update_files

    bundle = _checked_bundle(args)
    if bundle is None:
        return 1
    files = [Path(f) for f in args.files] or default_files(ROOT)
    if not files:
        print("no conversation tests found (tests/conversations/*.yaml)", file=sys.stderr)
        return 1
    if args.update:
        report = update_files(bundle, files, lang=_language())
    else:
        report = run_files(bundle, files, lang=_language())
    if args.update:
        changed = {name: len({(r.conversation, r.step, r.key) for r in revs})
                   for name, revs in report.revisions.items() if revs}
        for name, count in changed.items():
            print(f"updated {count} expectation(s) in {name}: review the diff")
    for failure in report.failures:
        print(failure)
    coverage = report.coverage(bundle)
    for name, share in coverage.items():
        missing = report.unvisited(bundle)[name]
        print(f"flow {name}: {share:.1f}% of states visited" + (f" (not visited: {', '.join(missing)})" if missing else ""))
    low = [n for n, share in coverage.items() if share < args.min_coverage and n in report.visited]
    print(f"conversation tests: {report.conversations} conversations, {report.steps} steps, "
          f"{len(report.failures)} failure(s)")
    if low:
        print(f"coverage below {args.min_coverage:.0f}% for: {', '.join(low)}")
    return 1 if report.failures or low else 0


def explain(flow, text: str, state: str | None = None) -> dict:
    """What the bot reads in ``text``: its words, the intents and keywords found (and those found
    but negated), an age, the language, and where the message leads from ``state`` (or as a
    first message). For staff trying a sentence, and for the evaluation report."""
    from bot.engine import Session
    from bot.engine.ages import find_age_band
    from bot.engine.language import detect_language
    from bot.engine.turn import read_message

    reading = read_message(flow, text)
    session = None
    if state:
        session = Session(state, flow.default_locale, flow.version, last_active_at=NIGHT_TS, started_at=NIGHT_TS)
    turn = step(flow, session, UserInput.typed(text), dt.datetime.fromtimestamp(NIGHT_TS + 30, dt.timezone.utc))
    return {
        "text": text,
        "words": [t.surface if t.lemma == t.surface else f"{t.surface}({t.lemma})" for t in reading.tokens],
        "intents": {name: list(found) for name, found in sorted(reading.scan.found.items())},
        "negated": sorted(reading.scan.negated),
        "age_band": find_age_band(text, asked=bool(state) and "age_band" in flow.states[state].asks),
        "language": detect_language(text),
        "matched": turn.matched,
        "state": turn.session.state,
        "tags": sorted(turn.entered_tags | set(turn.tags)),
        "because": list(turn.because),
    }


NIGHT_TS = dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp()


def run_explain(args) -> int:
    bundle = _checked_bundle(args)
    if bundle is None:
        return 1
    flow = bundle.flow(getattr(args, "flow", None))
    if args.state and args.state not in flow.states:
        print(f"--state: no state named {args.state!r}", file=sys.stderr)
        return 2
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin]
    for text in texts:
        info = explain(flow, text, args.state)
        if args.json:
            print(json.dumps(info, ensure_ascii=False))
            continue
        print(f"> {text}")
        print(f"  words:   {' '.join(info['words'])}")
        for name, found in info["intents"].items():
            print(f"  intent:  {name}  ({', '.join(found)})")
        if info["negated"]:
            print(f"  negated: {', '.join(info['negated'])}")
        if info["age_band"]:
            print(f"  age:     {info['age_band']}")
        print(f"  goes to: {info['state']}  [{info['matched']}]  tags: {', '.join(info['tags'])}")
    return 0
