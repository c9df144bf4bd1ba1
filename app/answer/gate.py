"""The evidence gate: before any generation, decide from the retrieval signals whether the evidence can answer.

Signals (all in [0, 1] or small ranges, computed from the retrieved passages only — no model call):
- `top_dense`: the best dense cosine; `dense_margin`: best minus the fifth best, or minus the relevance floor when
  fewer passed it (a clear winner or a flat field);
- `sparse_norm`: the best BM25 score squashed to [0, 1); `both_legs`: the top passage was found by both legs;
- `coverage`: share of the question's content terms present in the top passages;
- `key_coverage`: the same for its key terms (capitalised words, numbers, long rare-looking words) — a question
  about an entity the passages never name is the typical "related but not there" case;
- `top1_coverage`, `best_key_coverage`: coverage by the best passage alone (evidence in one place vs scattered).
A logistic model over these gives p(answerable); the threshold is calibrated on development data
(`python -m eval.calibrate_gate`, report in `app/answer/models/gate.json`). Without a model file the gate falls back to
the dense floor alone.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.domain import Retrieval
from app.core.text import STOPWORDS, terms

MODEL = Path(__file__).parent / "models" / "gate.json"
FEATURES = (
    "top_dense",
    "dense_margin",
    "sparse_norm",
    "both_legs",
    "coverage",
    "key_coverage",
    "top1_coverage",
    "best_key_coverage",
)
RELEVANCE_FLOOR = 0.25  # retrieval.relevance_floor's default
_KEY = re.compile(r"\b(?:[A-Z][\w'-]*|\d[\d,.:/-]*|[a-z]{9,})\b")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    probability: float
    threshold: float
    reason: str
    signals: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "probability": round(self.probability, 4),
            "threshold": round(self.threshold, 4),
            "reason": self.reason,
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
        }


def key_terms(question: str) -> set[str]:
    """Capitalised words (not the first word of the question unless capitalised mid-text too), numbers, long words;
    for Chinese, runs of two or more CJK characters split into bigrams."""
    found = set()
    for m in _KEY.finditer(question):
        word = m.group(0)
        if m.start() == 0 and word[:1].isupper() and word.lower() in STOPWORDS:
            continue
        if word.lower() not in STOPWORDS:
            found.add(word.lower().strip(",.:/-"))
    for run in _CJK_RUN.findall(question):
        found.update(run[i : i + 2] for i in range(len(run) - 1))
    return {w for w in found if w}


def signals(question: str, retrieval: Retrieval, passages: int = 3) -> dict[str, float]:
    chunks = retrieval.chunks
    dense = sorted((c.dense_score for c in chunks if c.dense_score is not None), reverse=True)
    top_dense = dense[0] if dense else 0.0
    # Retrieval drops chunks under the relevance floor, so a missing fifth score counts as the floor: a small
    # collection (one relevant chunk) must not look like a flat field.
    margin = top_dense - (dense[4] if len(dense) > 4 else min(RELEVANCE_FLOOR, top_dense))
    sparse = max((c.sparse_score or 0.0 for c in chunks), default=0.0)
    top = chunks[0] if chunks else None
    both = float(bool(top and top.dense_score is not None and (top.sparse_score or 0.0) > 0))
    text = " ".join(c.chunk.text for c in chunks[:passages])
    have = terms(text)
    q_terms = terms(question)
    coverage = len(q_terms & have) / len(q_terms) if q_terms else 0.0
    keys = key_terms(question)
    low = text.lower()
    key_cov = sum(1 for k in keys if k in low) / len(keys) if keys else coverage
    top1 = terms(chunks[0].chunk.text) if chunks else set()
    per_passage = [c.chunk.text.lower() for c in chunks[:passages]]
    best_key = max((sum(1 for k in keys if k in t) / len(keys) for t in per_passage), default=0.0) if keys else key_cov
    return {
        "top_dense": top_dense,
        "dense_margin": margin,
        "sparse_norm": sparse / (sparse + 5.0),
        "both_legs": both,
        "coverage": coverage,
        "key_coverage": key_cov,
        "top1_coverage": len(q_terms & top1) / len(q_terms) if q_terms else 0.0,
        "best_key_coverage": best_key,
    }


class EvidenceGate:
    """Usage::

    gate = EvidenceGate.load()                  # the calibrated model (or the dense-floor fallback)
    decision = gate.decide(question, retrieval) # refuse without calling a model when not decision.passed
    """

    def __init__(
        self,
        weights: dict[str, float] | None = None,
        bias: float = 0.0,
        threshold: float = 0.5,
        floor: float = 0.40,
        calibration: dict[str, Any] | None = None,
    ) -> None:
        self.weights = weights or {}
        self.bias = bias
        self.threshold = threshold
        self.floor = floor
        self.calibration = calibration or {}

    @classmethod
    def load(cls, path: Path = MODEL, floor: float = 0.40) -> EvidenceGate:
        if not path.exists():
            return cls(floor=floor)
        data = json.loads(path.read_text())
        return cls(data["weights"], data["bias"], data["threshold"], floor, data.get("calibration"))

    def probability(self, sig: dict[str, float]) -> float:
        if not self.weights:
            return 1.0 if sig["top_dense"] >= self.floor else 0.0
        z = self.bias + sum(w * sig[k] for k, w in self.weights.items())
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def decide(self, question: str, retrieval: Retrieval) -> GateDecision:
        sig = signals(question, retrieval)
        if not retrieval.chunks:
            return GateDecision(False, 0.0, self.threshold, "no passage in the collection matches the question", sig)
        if sig["top_dense"] < self.floor:
            reason = f"best passage similarity {sig['top_dense']:.2f} is below the evidence floor {self.floor:.2f}"
            return GateDecision(False, 0.0, self.threshold, reason, sig)
        p = self.probability(sig)
        if p >= self.threshold:
            return GateDecision(True, p, self.threshold, "evidence sufficient", sig)
        missing = "" if sig["key_coverage"] >= 0.999 else f"; key terms covered {sig['key_coverage']:.0%}"
        reason = f"the passages do not look like they answer the question (p={p:.2f} < {self.threshold:.2f}{missing})"
        return GateDecision(False, p, self.threshold, reason, sig)
