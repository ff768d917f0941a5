"""``python -m bot train``: fit the understanding model (bot/engine/classifier.py) on the `dev`
rows of the evaluation set, never on the held-back `test` rows.

Needs scikit-learn (``pip install -e '.[train]'``); the bot itself does not. The thresholds are
chosen on predictions made for each message by a model that did not see it (5-fold cross
validation), so that they hold on new messages: the crisis net may raise the question on at
most ``MAX_FALSE_ALARMS`` of ordinary messages.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from bot.engine.classifier import FEATURES_VERSION, MODEL_FILE, Binary, Classifier, Router, features
from bot.evaluation import CRISIS_LABELS, DEFAULT_SET, load_set

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


def run_train(args) -> int:
    try:
        import numpy as np
        from scipy.sparse import csr_matrix
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
    except ImportError:
        print("train needs scikit-learn: .venv/bin/pip install -e '.[train]'", file=sys.stderr)
        return 2
    path = Path(args.set) if args.set else DEFAULT_SET
    rows = [r for r in load_set(path) if r.split == "dev" and r.expected[0] != "other_language"]
    feats = [features(r.message) for r in rows]
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
    folds = StratifiedKFold(5, shuffle=True, random_state=13)

    def fit_binary(y, name: str) -> Binary:
        y = np.array(y, dtype=int)
        model = LogisticRegression(C=args.c, class_weight="balanced", max_iter=2000, solver="liblinear")
        oof = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
        ordinary = oof[y == 0]
        # The highest threshold that keeps false alarms under the limit, out of fold.
        threshold = float(np.quantile(ordinary, 1 - MAX_FALSE_ALARMS)) + 1e-6 if len(ordinary) else 0.5
        recall = float((oof[y == 1] >= threshold).mean()) if (y == 1).any() else 0.0
        print(f"{name}: {int(y.sum())} positive of {len(y)}; out of fold at threshold {threshold:.3f}: "
              f"recall {100 * recall:.1f}%, false alarms {100 * float((ordinary >= threshold).mean()):.2f}%")
        # Below this, an unclear keyword (crisis_maybe) is not enough to ask: it keeps all but
        # VETO_MISS of the crisis messages above it, out of fold.
        veto = float(np.quantile(oof[y == 1], VETO_MISS)) if (y == 1).any() else 0.0
        vetoed = float((ordinary < veto).mean()) if len(ordinary) else 0.0
        print(f"  veto below {veto:.3f}: {100 * vetoed:.1f}% of ordinary messages")
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
    router = LogisticRegression(C=args.c, max_iter=3000, solver="lbfgs")
    oof = cross_val_predict(router, xr, y, cv=StratifiedKFold(5, shuffle=True, random_state=13), method="predict_proba")
    best, p = oof.argmax(1), oof.max(1)
    threshold = 0.99
    for t in np.arange(0.2, 0.99, 0.01):
        sure = p >= t
        if sure.any() and (best[sure] == y[sure]).mean() >= MIN_PRECISION_ROUTE:
            threshold = float(t)
            break
    sure = p >= threshold
    print(f"router: {len(classes)} branches, {len(y)} messages; out of fold at threshold {threshold:.2f}: "
          f"acts on {100 * sure.mean():.1f}%, right {100 * (best[sure] == y[sure]).mean():.1f}% of those")
    router.fit(xr, y)
    rweights: dict[str, dict[int, float]] = {}
    for k in range(len(classes)):
        for i, w in enumerate(router.coef_[k]):
            if abs(w) >= PRUNE:
                rweights.setdefault(names[i], {})[k] = round(float(w), 4)
    model = Classifier(crisis, emergency,
                       Router(tuple(classes), tuple(round(float(b), 4) for b in router.intercept_), rweights,
                              round(threshold, 2)),
                       {"dev_rows": len(rows), "features": len(vocab)})
    out = Path(args.out) if args.out else Path(__file__).resolve().parent.parent / "flows" / MODEL_FILE
    out.write_text(json.dumps(model.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n",
                   encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB, features v{FEATURES_VERSION})")
    return 0
