"""Each file in broken_flows/ names the error it must produce (``# expect: F102 line 20``).

The file is loaded as the only flow, beside the fixture's locales and resources; ``# add-ja:``
header lines add texts to a locale, ``# add-intent-ja: name=keyword`` an intent. Loading must
report that code, at that line, naming the file, and must not hand out any flow.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.engine import load_bundle

from .helpers import MINI, TODAY

BROKEN = sorted((Path(__file__).parent / "broken_flows").glob("*.yaml"))


def _header(path: Path) -> tuple[str, int | None, dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    code, line, adds, intents = None, None, {}, {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.startswith("#"):
            break
        m = re.match(r"# expect: (F\d{3})(?: line (\d+))?", raw)
        if m:
            code, line = m.group(1), int(m.group(2)) if m.group(2) else None
        m = re.match(r"# add-(\w+): ([\w.]+)=(.*)", raw)
        if m:
            adds.setdefault(m.group(1), {})[m.group(2)] = m.group(3)
        m = re.match(r"# add-intent-(\w+): (\w+)=(.*)", raw)
        if m:
            intents.setdefault(m.group(1), {})[m.group(2)] = m.group(3)
    assert code, f"{path.name} has no '# expect:' header"
    return code, line, adds, intents


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_flow_is_reported_with_its_code_file_and_line(path: Path, tmp_path: Path):
    code, line, adds, intents = _header(path)
    flows, locales = tmp_path / "flows", tmp_path / "locales"
    flows.mkdir()
    shutil.copy(path, flows / path.name)
    shutil.copy(MINI / "flows" / "resources.yaml", flows / "resources.yaml")
    shutil.copytree(MINI / "locales", locales)
    for lang, texts in adds.items():
        body = "texts:\n" + "".join(f'  {k}: "{v}"\n' for k, v in texts.items())
        (locales / f"{lang}.extra.yaml").write_text(body, encoding="utf-8")
    for lang, found in intents.items():
        body = "intents:\n" + "".join(f"  {name}: [{keyword}]\n" for name, keyword in found.items())
        (locales / f"{lang}.more.intents.yaml").write_text(body, encoding="utf-8")

    bundle = load_bundle(flows, locales, TODAY)

    found = [i for i in bundle.errors if i.code == code]
    assert found, f"expected {code}, got {[str(i) for i in bundle.issues]}"
    # and nothing that follows from it: no error of another code
    assert {i.code for i in bundle.errors} == {code}, [str(i) for i in bundle.errors]
    issue = found[0]
    if line is not None:
        assert issue.line == line, str(issue)
    assert path.name in issue.file or issue.file.startswith("locales/")
    assert bundle.flows == {}, "a flow with errors must not be handed out"
    # The message is for NGO staff: it names the place and says what to do.
    assert str(issue).startswith(issue.file)
    assert len(issue.message) > 20
