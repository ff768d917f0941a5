"""What the fuzzer found, kept as plain tests (they run in every ``make test``)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from bot.engine.loader import load_bundle

MINI = Path(__file__).resolve().parents[1] / "engine" / "fixtures" / "mini"
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 8))


@pytest.mark.parametrize("yaml_text", [
    "default_locale: &me [*me]\n",                     # an alias inside the block it names (was RecursionError)
    "texts: &t {again: *t}\n",
    "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + LAUGHS,  # aliases of aliases: 10^8 values
    "a: " + "[" * 900 + "]" * 900 + "\n",             # nested deeper than the loader's recursion goes
    "!!set name: mini\n",                              # tags on values that cannot be them (ConstructorError)
    "!!python/object name: mini\n",
    "name: !!int abc\n",                               # (ValueError)
    "name: !!float x\n",
], ids=["alias-in-itself", "alias-in-mapping", "billion-laughs", "deep", "set-tag", "python-tag", "int-tag",
        "float-tag"])
def test_a_broken_flow_file_is_an_f100_issue_not_a_crash(tmp_path, yaml_text):
    shutil.copytree(MINI / "flows", tmp_path / "flows")
    shutil.copytree(MINI / "locales", tmp_path / "locales")
    (tmp_path / "flows" / "mini.yaml").write_text(yaml_text, encoding="utf-8")
    started = time.monotonic()
    bundle = load_bundle(tmp_path / "flows", tmp_path / "locales")
    assert time.monotonic() - started < 10
    assert [i.code for i in bundle.errors] == ["F100"] and not bundle.flows
    assert "mini.yaml" in str(bundle.errors[0])


@pytest.mark.parametrize("zone", ["Tokyo", "/Tokyo", "sia/Tokyo", "", "../etc/passwd", "Asia/Tokyo\x00"])
def test_a_mistyped_time_zone_in_resources_is_an_issue_not_a_crash(tmp_path, zone):
    """Was ZoneInfoNotFoundError, ValueError or ModuleNotFoundError out of load_bundle."""
    shutil.copytree(MINI / "flows", tmp_path / "flows")
    shutil.copytree(MINI / "locales", tmp_path / "locales")
    resources = tmp_path / "flows" / "resources.yaml"
    text = resources.read_text(encoding="utf-8")
    assert "timezone: Asia/Tokyo" in text
    resources.write_text(text.replace("timezone: Asia/Tokyo", f"timezone: {zone!r}"), encoding="utf-8")
    bundle = load_bundle(tmp_path / "flows", tmp_path / "locales")
    assert any(i.code == "F101" and "time zone" in str(i) and i.line == 1 for i in bundle.errors)
    assert not bundle.flows


@pytest.mark.parametrize("text", ["𐩀", "²", "①", "1" * 5000, "٣", "１"])
def test_a_number_int_cannot_read_is_not_a_crash(text):
    """Was ValueError from int() on characters str.isdigit() accepts (the matcher's "type the
    number of a choice")."""
    import datetime as dt

    from bot.engine import step
    from bot.engine.model import UserInput

    flow = load_bundle(MINI / "flows", MINI / "locales").flows["mini"]
    turn = step(flow, None, UserInput("text", text=text), dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))
    assert turn.session.state in flow.states


def test_intent_lists_that_are_not_lists(tmp_path):
    """``exclude: yes`` raised TypeError out of load_bundle; ``keywords: one word`` became one
    keyword per character (a crisis intent matching every message with "i" in it)."""
    import datetime as dt

    from bot.engine import step
    from bot.engine.model import UserInput

    shutil.copytree(MINI / "flows", tmp_path / "flows")
    shutil.copytree(MINI / "locales", tmp_path / "locales")
    en = tmp_path / "locales" / "en.yaml"
    text = en.read_text(encoding="utf-8")
    assert "  human: [talk to a person, human, counsellor]" in text
    en.write_text(text.replace("  human: [talk to a person, human, counsellor]",
                               "  human: {keywords: counsellor, exclude: yes}"), encoding="utf-8")
    bundle = load_bundle(tmp_path / "flows", tmp_path / "locales")
    assert [i.code for i in bundle.errors] == ["F101"] and "exclude of intent" in str(bundle.errors[0])
    en.write_text(text.replace("  human: [talk to a person, human, counsellor]", "  human: {keywords: counsellor}"),
                  encoding="utf-8")
    flow = load_bundle(tmp_path / "flows", tmp_path / "locales").flows["mini"]
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    start = step(flow, None, UserInput("start", locale_hint="en"), now).session
    assert step(flow, start, UserInput("text", text="counsellor"), now).matched.endswith("human")
    assert not step(flow, start, UserInput("text", text="c"), now).matched.endswith("human")  # not "c", "o"...
