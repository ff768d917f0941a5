"""``python -m bot train``: fit the understanding model (bot/engine/classifier.py) on the `dev`
rows of the evaluation set, never on the held-back `test` rows.

Needs scikit-learn (``pip install -e '.[train]'``); the bot itself does not. The thresholds are
chosen on predictions made for each message by a model that did not see it (5-fold cross
validation; for the crisis and emergency nets, folds of whole rounds of the set, so that the model
predicting a message saw nothing by the same writers), so that they hold on new messages: the
crisis net may raise the question on at most ``MAX_FALSE_ALARMS`` of ordinary messages.
"""
from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections import Counter
from pathlib import Path

from bot.engine.classifier import FEATURES_VERSION, MODEL_FILE, Binary, Classifier, Router, features
from bot.evaluation import CRISIS_LABELS, DEFAULT_SET, Row, load_set

# Labels of the evaluation set -> the flow's intents the router may send a message to.
ROUTES = {
    "threat": "threat_spread", "asked": "asked_images", "spread": "already_spread", "paid": "already_paid",
    "friend": "friend_worry", "school": "school_offender", "meeting": "meeting_demand",
    "abuse": "abuse_known_adult", "deepfake": "deepfake", "hacked": "hacked", "outing": "outing",
    "adult": "adult_age", "contact": "contact_again", "parents": "parents_question",
    "police": "police_visit", "law": "law_question", "evidence": "evidence_question", "dont": "what_now",
    "removal": "removal_question", "resources": "resources_question", "handoff": "human",
    "forget": "forget_me", "delete_which": "delete_which", "reassure": "self_blame", "feelings": "feel_sad",
    "goodbye": "bye", "none": "none",
}
MAX_FALSE_ALARMS = 0.006   # of ordinary messages, out of fold, for the crisis net alone
VETO_MISS = 0.01            # share of crisis messages the veto may wrongly set aside, out of fold
MIN_PRECISION_ROUTE = 0.85  # the router acts only where it is right this often, out of fold
PRUNE = 0.02                # weights smaller than this are dropped (a smaller file, the same answers)


def _crisis_label(expected: tuple[str, ...]) -> tuple[bool, bool]:
    crisis = any(e in CRISIS_LABELS for e in expected)
    return crisis, expected[0] == "emergency" or expected == ("emergency",)


def _imports():
    try:
        import numpy as np
        from scipy.sparse import csr_matrix
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_predict
    except ImportError:
        return None
    return np, csr_matrix, LogisticRegression, StratifiedKFold, GroupKFold, cross_val_predict


def training_rows(rows: list[Row]) -> list[Row]:
    """The rows a model may learn from: `dev`, and in a language the bot speaks."""
    return [r for r in rows if r.split == "dev" and r.expected[0] != "other_language"]


def fit(rows: list[Row], feats: list[set[str]], c: float = 1.0, log=print,
        groups: list[int] | None = None) -> Classifier:
    """The model fitted on ``rows`` (their features ``feats``); thresholds chosen out of fold.
    ``groups`` (a round for each row): the folds hold whole rounds, so that a threshold is chosen
    on messages by writers the model did not see, as the bot meets them (messages of one round
    are alike: folds that mix them make the model look surer than it is on new ones)."""
    np, csr_matrix, LogisticRegression, StratifiedKFold, GroupKFold, cross_val_predict = _imports()
    counts = Counter(f for fs in feats for f in fs)
    vocab = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= 2))}

    def matrix(sets):
        data, ind, ptr = [], [], [0]
        for fs in sets:
            cols = sorted(vocab[f] for f in fs if f in vocab)
            ind.extend(cols)
            data.extend([1.0] * len(cols))
            ptr.append(len(ind))
        return csr_matrix((data, ind, ptr), shape=(len(sets), len(vocab)))

    x = matrix(feats)
    names = sorted(vocab, key=vocab.get)
    if groups is not None and len(set(groups)) >= 3:
        folds = list(GroupKFold(min(5, len(set(groups)))).split(np.zeros(len(rows)), groups=np.array(groups)))
    else:
        folds = StratifiedKFold(5, shuffle=True, random_state=13)

    def fit_binary(y, name: str) -> Binary:
        y = np.array(y, dtype=int)
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, solver="liblinear")
        oof = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
        ordinary = oof[y == 0]
        # The highest threshold that keeps false alarms under the limit, out of fold.
        threshold = float(np.quantile(ordinary, 1 - MAX_FALSE_ALARMS)) + 1e-6 if len(ordinary) else 0.5
        recall = float((oof[y == 1] >= threshold).mean()) if (y == 1).any() else 0.0
        log(f"{name}: {int(y.sum())} positive of {len(y)}; out of fold at threshold {threshold:.3f}: "
            f"recall {100 * recall:.1f}%, false alarms {100 * float((ordinary >= threshold).mean()):.2f}%")
        # Below this, an unclear keyword (crisis_maybe) is not enough to ask: it keeps all but
        # VETO_MISS of the crisis messages above it, out of fold.
        veto = float(np.quantile(oof[y == 1], VETO_MISS)) if (y == 1).any() else 0.0
        vetoed = float((ordinary < veto).mean()) if len(ordinary) else 0.0
        log(f"  veto below {veto:.3f}: {100 * vetoed:.1f}% of ordinary messages")
        model.fit(x, y)
        weights = {names[i]: round(float(w), 4) for i, w in enumerate(model.coef_[0]) if abs(w) >= PRUNE}
        return Binary(round(float(model.intercept_[0]), 4), weights, round(threshold, 4), round(veto, 4))

    crisis_y = [_crisis_label(r.expected)[0] for r in rows]
    emergency_y = [_crisis_label(r.expected)[1] for r in rows]
    crisis = fit_binary(crisis_y, "crisis")
    emergency = fit_binary(emergency_y, "emergency")

    routed = [(i, ROUTES[r.expected[0]]) for i, r in enumerate(rows)
              if not crisis_y[i] and r.expected[0] in ROUTES]
    idx = [i for i, _ in routed]
    labels = [c for _, c in routed]
    classes = sorted(set(labels))
    y = np.array([classes.index(c) for c in labels])
    xr = x[idx]
    router = LogisticRegression(C=c, max_iter=3000, solver="lbfgs")
    # The router's threshold stays on random folds: on folds by round it rose (0.28 -> 0.30) and
    # routed fewer held-back messages, for no gain when each round was held out in turn.
    oof = cross_val_predict(router, xr, y, cv=StratifiedKFold(5, shuffle=True, random_state=13), method="predict_proba")
    best, p = oof.argmax(1), oof.max(1)
    threshold = 0.99
    for t in np.arange(0.2, 0.99, 0.01):
        sure = p >= t
        if sure.any() and (best[sure] == y[sure]).mean() >= MIN_PRECISION_ROUTE:
            threshold = float(t)
            break
    sure = p >= threshold
    log(f"router: {len(classes)} branches, {len(y)} messages; out of fold at threshold {threshold:.2f}: "
        f"acts on {100 * sure.mean():.1f}%, right {100 * (best[sure] == y[sure]).mean():.1f}% of those")
    router.fit(xr, y)
    rweights: dict[str, dict[int, float]] = {}
    for k in range(len(classes)):
        for i, w in enumerate(router.coef_[k]):
            if abs(w) >= PRUNE:
                rweights.setdefault(names[i], {})[k] = round(float(w), 4)
    return Classifier(crisis, emergency,
                      Router(tuple(classes), tuple(round(float(b), 4) for b in router.intercept_), rweights,
                             round(threshold, 2)),
                      {"dev_rows": len(rows), "features": len(vocab)})


def run_train(args) -> int:
    if _imports() is None:
        print("train needs scikit-learn: .venv/bin/pip install -e '.[train]'", file=sys.stderr)
        return 2
    path = Path(args.set) if args.set else DEFAULT_SET
    if getattr(args, "by_round", False):
        return run_by_round(args, path)
    rows = training_rows(load_set(path))
    model = fit(rows, [features(r.message) for r in rows], args.c, groups=groups_of(rows, path))
    out = Path(args.out) if args.out else Path(__file__).resolve().parent.parent / "flows" / MODEL_FILE
    out.write_text(json.dumps(model.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n",
                   encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB, features v{FEATURES_VERSION})")
    return 0


# ---- leave one round out ------------------------------------------------------------------------

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_ROUND_NUMBER = re.compile(r"\bround\s+(\d+)", re.IGNORECASE)
_ROUND_ORDINAL = re.compile(r"\b(" + "|".join(_ORDINALS) + r")\s+round\b", re.IGNORECASE)


def round_of_header(line: str) -> int | None:
    """The round a section header names: "# ==== round 7 (ja) ====" -> 7, "# ==== Japanese,
    second round ====" -> 2; None for a header that names no round."""
    m = _ROUND_NUMBER.search(line)
    if m:
        return int(m.group(1))
    m = _ROUND_ORDINAL.search(line)
    return _ORDINALS[m.group(1).lower()] if m else None


def rounds_by_line(path: Path) -> dict[int, int]:
    """For every line of the set after a round's header (lines starting ``# ==== ``), its round."""
    out: dict[int, int] = {}
    current = None
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.startswith("# ==== "):
                current = round_of_header(line)
            elif current is not None:
                out[n] = current
    return out


def groups_of(rows: list[Row], path: Path, rounds: dict[int, int] | None = None) -> list[int] | None:
    """The round of each row, for folds that hold whole rounds; None when the file names fewer
    than three rounds (then the folds are drawn at random). A row before any round's header is
    a round of its own (0)."""
    rounds = rounds_by_line(path) if rounds is None else rounds
    groups = [rounds.get(r.line, 0) for r in rows]
    return groups if len(set(groups)) >= 3 else None


def run_by_round(args, path: Path) -> int:
    """Leave one round out: for each round, fit on the `dev` rows of the other rounds and run the
    whole bot (keywords and that model) on the round's `dev` rows; with the keywords alone too."""
    from bot.commands import _bundle, _print_issues
    from bot.evaluation import run_row

    bundle = _bundle(args)
    if bundle.errors:
        _print_issues(bundle)
        return 1
    flow = bundle.flow(getattr(args, "flow", None))
    all_rows = load_set(path)
    rounds = rounds_by_line(path)
    rows = training_rows(all_rows)
    feats = {r.line: features(r.message) for r in rows}
    held = sorted({rounds[r.line] for r in rows if r.line in rounds})
    quiet = (lambda *a, **k: None) if not args.verbose else print
    summary: dict[str, dict[str, dict[str, float]]] = {}
    pooled: dict[str, list[list]] = {}
    print("held-out round  lang  rows | crisis recall  emergency recall  false crisis  routing"
          "   (keywords alone -> keywords + model)")
    for rnd in held:
        train = [r for r in rows if rounds.get(r.line) != rnd]
        model = fit(train, [feats[r.line] for r in train], args.c, log=quiet, groups=groups_of(train, path, rounds))
        flows = (dataclasses.replace(flow, classifier=None), dataclasses.replace(flow, classifier=model))
        test = [r for r in all_rows if r.split == "dev" and rounds.get(r.line) == rnd]
        results = [[run_row(f, r) for r in test] for f in flows]
        for lang in ("ja", "en", "all"):
            mine = [[x for x in res if lang == "all" or x.row.locale == lang] for res in results]
            if mine[0]:
                summary.setdefault(str(rnd), {})[lang] = _print_line(f"round {rnd}", lang, mine)
            pool = pooled.setdefault(lang, [[], []])
            pool[0] += mine[0]
            pool[1] += mine[1]
    for lang in ("ja", "en", "all"):
        summary.setdefault("pooled", {})[lang] = _print_line("pooled", lang, pooled[lang])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


def _print_line(name: str, lang: str, results: list[list]) -> dict[str, float]:
    from bot.evaluation import Report

    figures = []
    for res in results:
        report = Report(name)
        report.results = res
        figures.append(report.figures())
    a, m = figures
    print(f"{name:15s} {lang:4s} {len(results[1]):5d} | "
          f"{a['crisis_recall']:5.1f} -> {m['crisis_recall']:5.1f}   "
          f"{a['emergency_recall']:5.1f} -> {m['emergency_recall']:5.1f}     "
          f"{a['false_crisis']:4.2f} -> {m['false_crisis']:4.2f}   "
          f"{a['routing']:5.1f} -> {m['routing']:5.1f}", flush=True)
    return m
