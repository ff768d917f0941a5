"""``python -m bot train``: how the understanding model is fitted (bot/training.py).

Needs scikit-learn (``pip install -e '.[train]'``); skipped without it, as the bot runs without it."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sklearn")

from bot import training  # noqa: E402
from bot.engine.classifier import features  # noqa: E402
from bot.evaluation import load_set  # noqa: E402

HEADER = "split\tlocale\twhere\tmessage\texpected\n"


def small_set(tmp_path: Path) -> Path:
    """Four rounds, each with its own way of saying a crisis, harm now and three ordinary messages."""
    lines = [HEADER]
    words = ["hopeless", "done", "end", "gone"]
    for rnd, word in enumerate(words, start=1):
        lines.append(f"# ==== round {rnd} (en) ====\n")
        for k in range(12):
            lines.append(f"dev\ten\tstart\ti feel {word} {k} tonight\tcrisis\n")
            lines.append(f"dev\ten\tstart\ti took the pills {word}z {k}\temergency\n")
            lines.append(f"dev\ten\tstart\the has my pics {word}x {k}\tthreat\n")
            lines.append(f"dev\ten\tstart\tshould i tell my mum {k} {word}y\tparents\n")
            lines.append(f"dev\ten\tstart\twhat happens at the police {k} {word}w\tpolice\n")
    path = tmp_path / "set.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_groups_are_the_rounds_of_the_rows(tmp_path):
    path = small_set(tmp_path)
    rows = training.training_rows(load_set(path))
    groups = training.groups_of(rows, path)
    assert groups is not None and sorted(set(groups)) == [1, 2, 3, 4]
    assert groups[0] == 1 and groups[-1] == 4


def test_a_file_with_fewer_than_three_rounds_is_folded_at_random(tmp_path):
    path = tmp_path / "set.tsv"
    path.write_text(HEADER + "dev\ten\tstart\thi\tnone\n", encoding="utf-8")
    assert training.groups_of(training.training_rows(load_set(path)), path) is None


def test_thresholds_are_chosen_on_folds_that_hold_whole_rounds(tmp_path, monkeypatch):
    """A crisis or emergency threshold is chosen on predictions for messages of rounds the model did not see: no
    round is on both sides of a fold (messages of one round are alike, and a model that saw
    some of them looks surer on the rest than it is on a new round)."""
    path = small_set(tmp_path)
    rows = training.training_rows(load_set(path))
    groups = training.groups_of(rows, path)
    seen = []
    real = training._imports()

    def spy(estimator, x, y, cv, method):
        folds = list(cv.split(x, y) if hasattr(cv, "split") else cv)
        seen.append((x.shape[0], folds))
        return real[-1](estimator, x, y, cv=folds, method=method)

    monkeypatch.setattr(training, "_imports", lambda: real[:-1] + (spy,))
    training.fit(rows, [features(r.message) for r in rows], groups=groups, log=lambda *a: None)
    assert len(seen) == 3   # crisis, emergency, router
    for n, folds in seen[:2]:   # the crisis and emergency thresholds (and vetoes)
        assert n == len(rows)
        for train, test in folds:
            assert not {groups[i] for i in train} & {groups[i] for i in test}
