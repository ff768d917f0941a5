"""``python -m bot flows ...``: versions of what the bot says, from the command line.

``export DIR`` writes a version as the YAML files (DIR/flows, DIR/locales); ``import DIR`` makes
a draft from such files (refused, with the checker's messages, when they have errors);
``publish N`` makes a draft live in every process; ``restore N`` serves an earlier version again;
``list`` and ``diff A B``. The work is ``bot.flowversions`` (the console's editor calls the same);
this module parses, prints and sets the exit status. Messages follow ``BOT_LANG``.
"""
from __future__ import annotations

import datetime as dt
import getpass
import sys
from pathlib import Path

from bot.commands import _language
from bot.engine.flowdiff import Diff
from bot.engine.flowfiles import FlowFiles, FlowFilesError
from bot.flowversions import FlowVersions, Outcome
from bot.store.commands import _unreachable, with_store
from bot.store.db import StoreUnavailable

T = {
    "en": {
        "exported": "wrote version {id} to {dir} ({count} files)",
        "none": "there is no published version",
        "imported": "stored draft version {id} ({warnings} warning(s)); to make it live: python -m bot flows publish {id}",
        "refused": "refused: the files have {errors} error(s); nothing was stored or published",
        "published": "published version {id}: every process serves it within seconds",
        "restored": "restored version {old} as version {id}: every process serves it within seconds",
        "tests": "conversation tests on this version: {conversations} conversations, {steps} steps, {failures} failure(s)",
        "tests_warn": "warning: {failures} conversation test(s) fail on the version now live; check the failures above",
        "no_tests": "no conversation tests were run (none found)",
        "head": "  id  status     when              by                  note",
        "serving": "  (serving)",
        "status_draft": "draft", "status_published": "published",
    },
    "ja": {
        "exported": "版 {id} を {dir} に書き出しました（ファイル {count} 個）",
        "none": "公開中の版がありません",
        "imported": "下書きの版 {id} を保存しました（注意 {warnings} 件）。公開するには：python -m bot flows publish {id}",
        "refused": "受け付けませんでした：エラーが {errors} 件あります。何も保存・公開していません",
        "published": "版 {id} を公開しました。数秒のうちにすべてのプロセスがこの版で動きます",
        "restored": "版 {old} を版 {id} として戻しました。数秒のうちにすべてのプロセスがこの版で動きます",
        "tests": "この版での会話テスト：会話 {conversations} 件、手順 {steps} 件、失敗 {failures} 件",
        "tests_warn": "注意：公開した版で会話テストが {failures} 件失敗しています。上の失敗を確かめてください",
        "no_tests": "会話テストは実行されませんでした（見つかりません）",
        "head": "  番号  状態       日時              だれ                メモ",
        "serving": "  （使用中）",
        "status_draft": "下書き", "status_published": "公開",
    },
}


def run_flows(settings, args) -> int:
    lang = _language()
    author = args.author or f"cli:{getpass.getuser()}"

    async def work(store) -> int:
        versions = FlowVersions.from_settings(store, settings)
        await versions.ensure_seeded()
        action = args.flows_action
        if action == "export":
            return await _export(versions, Path(args.dir), args.version, lang)
        if action == "import":
            return await _import(versions, Path(args.dir), args, author, lang)
        if action in ("publish", "restore"):
            method = versions.publish if action == "publish" else versions.restore
            outcome = await method(args.version, author=author, lang=lang)
            return _report(outcome, lang, restored_from=args.version if action == "restore" else None)
        if action == "list":
            return await _list(versions, lang)
        return await _diff(versions, args.a, args.b, lang)

    try:
        return with_store(settings, work)
    except StoreUnavailable as exc:
        return _unreachable(exc)


async def _export(versions: FlowVersions, dest: Path, version: int | None, lang: str) -> int:
    found = await versions.files(version)
    if found is None:
        print(T[lang]["none"] if version is None else f"{_no_such(version, lang)}", file=sys.stderr)
        return 1
    written = found[1].write(dest / "flows", dest / "locales")
    print(T[lang]["exported"].format(id=found[0], dir=dest, count=len(written)))
    return 0


async def _import(versions: FlowVersions, src: Path, args, author: str, lang: str) -> int:
    try:
        files = FlowFiles.read(src / "flows", src / "locales")
    except FlowFilesError as exc:
        print(exc.text(lang), file=sys.stderr)
        return 1
    outcome = await versions.add(files, note=args.note, author=author)
    if not outcome.ok:
        return _report(outcome, lang)
    _print_issues(outcome, lang)
    print(T[lang]["imported"].format(id=outcome.version_id, warnings=len(outcome.bundle.warnings)))
    if not args.publish:
        return 0
    return _report(await versions.publish(outcome.version_id, author=author, lang=lang), lang)


def _print_issues(outcome: Outcome, lang: str) -> None:
    for issue in sorted(outcome.bundle.issues, key=lambda i: (i.severity != "error", i.file, i.line or 0)):
        print(issue.describe(lang), file=sys.stderr)


def _report(outcome: Outcome, lang: str, restored_from: int | None = None) -> int:
    """What a publish or restore did: refused (the checker's messages, exit 1), or done with the
    conversation tests' result (failures warn: exit 0)."""
    t = T[lang]
    if outcome.refused is not None:
        print(outcome.refused[1] if lang == "ja" else outcome.refused[0], file=sys.stderr)
        return 1
    if not outcome.ok:
        _print_issues(outcome, lang)
        print(t["refused"].format(errors=len(outcome.bundle.errors)), file=sys.stderr)
        return 1
    report = outcome.tests
    if report is None:
        print(t["no_tests"])
    else:
        for failure in report.failures:
            print(failure)
        print(t["tests"].format(conversations=report.conversations, steps=report.steps, failures=len(report.failures)))
    if restored_from is not None:
        print(t["restored"].format(old=restored_from, id=outcome.version_id))
    else:
        print(t["published"].format(id=outcome.version_id))
    if report is not None and report.failures:
        print(t["tests_warn"].format(failures=len(report.failures)), file=sys.stderr)
    return 0


async def _list(versions: FlowVersions, lang: str) -> int:
    serving = await versions.published_head()
    print(T[lang]["head"])
    for v in await versions.listing():
        when = dt.datetime.fromtimestamp(v.published_at or v.created_at).strftime("%Y-%m-%d %H:%M")
        parent = f" (← {v.parent_id})" if v.parent_id else ""
        mark = T[lang]["serving"] if v.id == serving else ""
        status = T[lang].get(f"status_{v.status}", v.status)
        print(f"{v.id:>4}  {status:<9}  {when}  {v.author[:18]:<18}  {v.note}{parent}{mark}")
    return 0


async def _diff(versions: FlowVersions, a: int, b: int, lang: str) -> int:
    result = await versions.diff(a, b)
    if not isinstance(result, Diff):
        print(result[1] if lang == "ja" else result[0], file=sys.stderr)
        return 1
    for line in result.words(lang):
        print(line)
    if result.yaml:
        print()
        print(result.yaml, end="")
    return 0


def _no_such(version: int, lang: str) -> str:
    return f"版 {version} はありません" if lang == "ja" else f"there is no version {version}"
