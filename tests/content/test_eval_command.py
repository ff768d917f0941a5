"""``python -m bot eval``: its exit code against the issue's targets, and against a recorded floor."""
from __future__ import annotations

import json

from bot.__main__ import main

HEADER = "split\tlocale\twhere\tmessage\texpected\n"
ROWS = [
    ("dev", "ja", "start", "死にたい", "crisis"),
    ("dev", "ja", "start", "インスタで知り合った人に動画を送ったら学校にばらすって言われた", "threat"),
    ("test", "en", "start", "i want to die", "crisis"),
    ("test", "en", "start", "my phone died lol", "none"),
]


def write_set(tmp_path, rows):
    path = tmp_path / "set.tsv"
    path.write_text(HEADER + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_eval_passes_when_every_target_is_met(tmp_path, capsys):
    assert main(["eval", "--set", str(write_set(tmp_path, ROWS)), "--summary"]) == 0
    assert "crisis recall" in capsys.readouterr().out


def test_eval_fails_below_target_and_says_which(tmp_path, capsys):
    missed = ROWS + [("test", "ja", "start", "ばななおいしい", "crisis")]   # labelled crisis, read as ordinary
    assert main(["eval", "--set", str(write_set(tmp_path, missed)), "--summary"]) == 1
    assert "test: crisis recall 50.0% < 100%" in capsys.readouterr().err


def test_a_recorded_floor_is_what_a_later_change_may_not_fall_below(tmp_path, capsys):
    missed = ROWS + [("test", "ja", "start", "ばななおいしい", "crisis")]
    path, floor = write_set(tmp_path, missed), tmp_path / "floor.json"
    main(["eval", "--set", str(path), "--summary", "--record-floor", str(floor)])
    assert json.loads(floor.read_text())["test"]["crisis_recall"] == 50.0
    capsys.readouterr()
    assert main(["eval", "--set", str(path), "--summary", "--floor", str(floor)]) == 0
    assert "short of the issue's targets: test: crisis recall 50.0% < 100%" in capsys.readouterr().err
    worse = missed + [("test", "en", "start", "banana bread recipe", "crisis")]
    assert main(["eval", "--set", str(write_set(tmp_path, worse)), "--summary", "--floor", str(floor)]) == 1
    assert "below the floor: test: crisis recall 33.3% < 50%" in capsys.readouterr().err


def test_precision_counts_only_wrong_answers_against_a_label(tmp_path, capsys):
    # An emergency is also a crisis (crisis screens carry both), and a threat passes through a
    # state that also reassures: neither is a wrong "crisis" or "reassure" answer.
    rows = ROWS + [("dev", "en", "start", "i took all my pills just now", "emergency"),
                   ("dev", "en", "start", "its my fault for sending it", "reassure"),
                   ("dev", "en", "start", "he says he will post my nudes unless i send more", "threat")]
    main(["eval", "--set", str(write_set(tmp_path, rows)), "--split", "dev"])
    table = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()
             if line.startswith("  ") and len(line.split()) == 4}
    assert table["crisis"][2] == "100.0%" and table["reassure"][2] == "100.0%", table
