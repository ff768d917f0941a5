"""The command line as NGO staff and other programs use it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .helpers import MINI, copy_mini

ROOT = Path(__file__).resolve().parents[2]
MINI_ARGS = ["--flows", str(MINI / "flows"), "--locales", str(MINI / "locales")]


def bot(*args: str, stdin: str = "", **env_vars: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_LANG", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(PYTHONIOENCODING="utf-8", **env_vars)
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_chat_json_is_one_object_per_line_in_the_public_format():
    lines = ["1", json.dumps({"choice": "evidence"}), "死にたい", "qwerty"]
    out = bot("chat", "--json", "--locale", "ja", *MINI_ARGS, stdin="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr
    objects = [json.loads(l) for l in out.stdout.splitlines()]
    assert len(objects) == len(lines) + 1
    for obj in objects:
        assert set(obj) == {"state", "tags", "locale", "matched", "messages", "effects"}
        for m in obj["messages"]:
            assert set(m) == {"text", "choices", "links"}
    assert [o["matched"] for o in objects] == ["start", "choice:threatened", "choice:evidence", "interrupt:crisis", "fallback"]
    assert objects[3]["tags"] == ["crisis"]
    assert objects[3]["messages"][-1]["links"][0]["url"].startswith("tel:")


def test_chat_readable_mode_numbers_the_choices():
    out = bot("chat", "--locale", "en", *MINI_ARGS, stdin="1\n")
    assert "[1] I am threatened" in out.stdout
    assert "It is not your fault." in out.stdout


def test_check_passes_on_good_flows_and_fails_with_file_and_line_on_bad(tmp_path):
    ok = bot("check", *MINI_ARGS)
    assert ok.returncode == 0, ok.stdout
    assert "0 error(s)" in ok.stdout
    flows, locales = copy_mini(tmp_path)
    (flows / "mini.yaml").write_text((flows / "mini.yaml").read_text().replace("target: goodbye}", "target: good_bye}"))
    bad = bot("check", "--flows", str(flows), "--locales", str(locales))
    assert bad.returncode == 1
    assert "flows/mini.yaml:" in bad.stdout and "F102" in bad.stdout and "good_bye" in bad.stdout


def test_check_speaks_japanese_with_bot_lang_or_a_japanese_locale(tmp_path):
    flows, locales = copy_mini(tmp_path)
    (flows / "mini.yaml").write_text((flows / "mini.yaml").read_text().replace("target: goodbye}", "target: good_bye}"))
    where = ["--flows", str(flows), "--locales", str(locales)]
    for env in ({"BOT_LANG": "ja"}, {"LANG": "ja_JP.UTF-8"}, {"LC_ALL": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"},
                {"LANG": "en_US.UTF-8", "BOT_LANG": "ja"}):
        out = bot("check", *where, **env)
        assert out.returncode == 1
        assert "エラー F102 MissingTarget: 行き先の「good_bye」という状態がありません" in out.stdout, env
        assert "「goodbye」のまちがいではありませんか？" in out.stdout
        assert "エラー 1 件" in out.stdout
    for env in ({}, {"LANG": "C.UTF-8"}, {"LANG": "ja_JP.UTF-8", "BOT_LANG": "en"}, {"LC_ALL": "en_GB.UTF-8", "LANG": "ja_JP"}):
        out = bot("check", *where, **env)
        assert 'error F102 MissingTarget: goes to "good_bye"' in out.stdout and "1 error(s)" in out.stdout, env
    wrong = bot("check", *where, BOT_LANG="fr")
    assert "BOT_LANG: use ja or en (got 'fr')" in wrong.stderr and "1 error(s)" in wrong.stdout


def test_check_fail_on_warnings(tmp_path):
    flows, locales = copy_mini(tmp_path)
    with open(locales / "ja.yaml", "a", encoding="utf-8") as f:
        f.write("")
    en = (locales / "en.yaml").read_text()
    (locales / "en.yaml").write_text(en.replace("texts:\n", "texts:\n  never_used: hello\n", 1))
    assert bot("check", "--flows", str(flows), "--locales", str(locales)).returncode == 0
    strict = bot("check", "--fail-on-warnings", "--flows", str(flows), "--locales", str(locales))
    assert strict.returncode == 1 and "W201" in strict.stdout


def test_graph_draws_mermaid_with_tag_colours():
    out = bot("graph", "--format", "mermaid", *MINI_ARGS)
    assert out.returncode == 0
    assert out.stdout.startswith("flowchart TD")
    assert "class crisis crisis" in out.stdout
    assert "welcome -->" in out.stdout


def test_conversation_tests_run_report_coverage_and_fail_on_a_wrong_expectation(tmp_path):
    good = bot("test", str(MINI.parent / "mini_conversations.yaml"), "--min-coverage", "100", *MINI_ARGS)
    assert good.returncode == 0, good.stdout
    assert "100.0% of states visited" in good.stdout
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text((MINI.parent / "mini_conversations.yaml").read_text(encoding="utf-8").replace("state: law_u16", "state: law_general"), encoding="utf-8")
    bad = bot("test", str(wrong), *MINI_ARGS)
    assert bad.returncode == 1
    assert "step 1: state" in bad.stdout and "law_general" in bad.stdout and "wrong.yaml:" in bad.stdout
    partial = tmp_path / "partial.yaml"
    partial.write_text("flow: mini\nconversations:\n  - name: hello\n    steps:\n      - start: true\n", encoding="utf-8")
    low = bot("test", str(partial), "--min-coverage", "100", *MINI_ARGS)
    assert low.returncode == 1 and "coverage below" in low.stdout


def test_update_rewrites_expectations(tmp_path):
    path = tmp_path / "conv.yaml"
    path.write_text("flow: mini\nconversations:\n  - name: x\n    steps:\n      - start: true\n      - tap: threatened\n", encoding="utf-8")
    assert bot("test", str(path), "--update", *MINI_ARGS).returncode == 0
    text = path.read_text(encoding="utf-8")
    assert "state: law_general" in text and "matched: choice:threatened" in text
    assert bot("test", str(path), *MINI_ARGS).returncode == 0
