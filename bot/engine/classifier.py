"""A statistical safety net under the keywords: how much a message reads like a crisis, and
which branch it reads like when no keyword matched.

Keywords stay first (staff can read and change them); the model only acts where they found
nothing. It asks the direct crisis question when a message reads like a crisis, goes to the
emergency when it reads like harm happening now, and routes a message that matched nothing to
the branch it reads like instead of "I did not understand". It is trained offline by
``python -m bot train`` on the `dev` rows of the evaluation set (never the held-back `test`
rows) and shipped as ``flows/understanding_model.json``: a table of weights, read once when the
flows load. Scoring is a sum of weights over the message's features: pure, a few microseconds.

Features: character pairs and triples of the folded Japanese text (robust to unusual spellings,
dialects and words the dictionary does not know), Japanese lemmas, English lemmas and lemma
pairs ("not suicidal" is not "suicidal"), and emoji.
"""
from __future__ import annotations

import json
import math
from itertools import repeat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from .normalise import compact, normalise
from .tokens import EMOJI, EN, JA, tokenize

MODEL_FILE = "understanding_model.json"
FEATURES_VERSION = 1


def features(text: str) -> set[str]:
    """The features of a message, the same at training and at run time."""
    out: set[str] = set()
    tokens = tokenize(text)
    english = [t.lemma for t in tokens if t.kind == EN]
    for t in tokens:
        if t.kind == JA:
            out.add("l:" + t.lemma)
        elif t.kind == EMOJI:
            out.add("e:" + t.surface)
    for i, word in enumerate(english):
        out.add("w:" + word)
        if i + 1 < len(english):
            out.add("b:" + word + "_" + english[i + 1])
    folded = compact(normalise(text[:500]))
    if not folded.isascii():
        out.update("c2:" + folded[i:i + 2] for i in range(len(folded) - 1) if not folded[i:i + 2].isascii())
        out.update("c3:" + folded[i:i + 3] for i in range(len(folded) - 2) if not folded[i:i + 3].isascii())
    return out


@dataclass(frozen=True)
class Binary:
    bias: float
    weights: Mapping[str, float]
    threshold: float
    veto: float = 0.0   # below this an unclear keyword alone does not make it a crisis

    def probability(self, feats: set[str]) -> float:
        z = self.bias + sum(map(self.weights.get, feats, repeat(0.0)))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Router:
    classes: tuple[str, ...]
    bias: tuple[float, ...]
    weights: Mapping[str, Mapping[int, float]]
    threshold: float

    def best(self, feats: set[str]) -> tuple[str, float]:
        scores = list(self.bias)
        for f in feats:
            for cls, w in self.weights.get(f, {}).items():
                scores[cls] += w
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        total = sum(exp)
        i = max(range(len(scores)), key=scores.__getitem__)
        return self.classes[i], exp[i] / total


@dataclass(frozen=True, eq=False)
class Classifier:
    crisis: Binary
    emergency: Binary
    router: Router
    trained_on: Mapping[str, int] = field(default_factory=dict)

    def read(self, text: str) -> "Verdict":
        return _verdict(self, text)

    def to_json(self) -> dict:
        return {
            "features_version": FEATURES_VERSION,
            "trained_on": dict(self.trained_on),
            "crisis": {"bias": self.crisis.bias, "threshold": self.crisis.threshold, "veto": self.crisis.veto,
                       "weights": dict(self.crisis.weights)},
            "emergency": {"bias": self.emergency.bias, "threshold": self.emergency.threshold,
                          "veto": self.emergency.veto, "weights": dict(self.emergency.weights)},
            "router": {"classes": list(self.router.classes), "bias": list(self.router.bias),
                       "threshold": self.router.threshold,
                       "weights": {f: {str(k): v for k, v in ws.items()} for f, ws in self.router.weights.items()}},
        }

    @staticmethod
    def from_json(data: Mapping) -> "Classifier":
        if data.get("features_version") != FEATURES_VERSION:
            raise ValueError("the model was trained on other features: run python -m bot train")

        def binary(d) -> Binary:
            return Binary(float(d["bias"]), {str(k): float(v) for k, v in d["weights"].items()}, float(d["threshold"]),
                          float(d.get("veto", 0.0)))

        r = data["router"]
        router = Router(tuple(r["classes"]), tuple(float(b) for b in r["bias"]),
                        {f: {int(k): float(v) for k, v in ws.items()} for f, ws in r["weights"].items()},
                        float(r["threshold"]))
        return Classifier(binary(data["crisis"]), binary(data["emergency"]), router, dict(data.get("trained_on", {})))


@dataclass(frozen=True)
class Verdict:
    crisis: float
    emergency: float
    feats: frozenset[str]
    model: Classifier

    @property
    def reads_like_crisis(self) -> bool:
        return self.crisis >= self.model.crisis.threshold

    @property
    def reads_ordinary(self) -> bool:
        """So unlike a crisis that an unclear keyword alone should not raise the question."""
        return self.crisis < self.model.crisis.veto

    @property
    def reads_like_emergency(self) -> bool:
        return self.emergency >= self.model.emergency.threshold

    def route(self) -> tuple[str, float] | None:
        """The branch (an intent name) the message reads like, when the model is sure enough."""
        name, p = self.model.router.best(self.feats)
        return (name, p) if p >= self.model.router.threshold and name != "none" else None


@lru_cache(maxsize=4096)
def _verdict(model: Classifier, text: str) -> Verdict:
    feats = frozenset(features(text))
    return Verdict(model.crisis.probability(feats), model.emergency.probability(feats), feats, model)


def load_classifier(path: Path) -> Classifier | None:
    """The model next to the flows, or None when there is none (the keywords work alone)."""
    if not path.exists():
        return None
    return Classifier.from_json(json.loads(path.read_text(encoding="utf-8")))
