"""Second-stage reranking: a learned linear model over first-pass features (no second neural model).

The model is a logistic regression over `retrievers.features.FEATURE_NAMES`, trained by `eval/train_reranker.py`
on the SciFact development queries and committed as `retrievers/models/reranker.json` (a few kilobytes).
Inference is numpy only: features of 50 candidates plus one matrix-vector product, a few milliseconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.core.domain import ScoredChunk
from retrievers.features import FEATURE_NAMES, compute_features

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "reranker.json"
MODEL_FORMAT = "grounded-reranker/1"
MODEL_KIND = "logistic"


@dataclass(frozen=True)
class LinearModel:
    """score = bias + Σ weight · (feature − mean) / scale; `weights` are per standardised feature."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    depth: int  # first-pass depth the model was trained on: rerank this many candidates
    info: dict[str, Any]

    def score(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "kind": MODEL_KIND,
            "features": list(self.features),
            "mean": [round(float(v), 8) for v in self.mean],
            "scale": [round(float(v), 8) for v in self.scale],
            "weights": [round(float(v), 8) for v in self.weights],
            "bias": round(float(self.bias), 8),
            "depth": self.depth,
            "info": self.info,
        }


def parse_model(data: Any, source: str = "model") -> LinearModel:
    """Validate a model file's JSON object and build the model.

    Raises:
        ValueError: listing every problem found (format, feature names, vector lengths, non-finite numbers).
    """
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
    problems: list[str] = []
    if data.get("format") != MODEL_FORMAT:
        problems.append(f"format is {data.get('format')!r}, expected {MODEL_FORMAT!r}")
    if data.get("kind") != MODEL_KIND:
        problems.append(f"kind is {data.get('kind')!r}, expected {MODEL_KIND!r}")
    names = data.get("features")
    if not isinstance(names, list) or tuple(names) != FEATURE_NAMES:
        have = {str(n) for n in names} if isinstance(names, list) else set()
        missing = [n for n in FEATURE_NAMES if n not in have]
        unknown = sorted(have - set(FEATURE_NAMES))
        problems.append(
            f"features must be exactly {list(FEATURE_NAMES)} in this order"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    vectors: dict[str, np.ndarray] = {}
    for key in ("mean", "scale", "weights"):
        value = data.get(key)
        if not isinstance(value, list) or len(value) != len(FEATURE_NAMES):
            problems.append(f"{key} must be a list of {len(FEATURE_NAMES)} numbers")
            continue
        try:
            vec = np.array([float(v) for v in value], dtype=np.float64)
        except (TypeError, ValueError):
            problems.append(f"{key} holds a value that is not a number")
            continue
        if not np.all(np.isfinite(vec)):
            problems.append(f"{key} holds a non-finite number")
        vectors[key] = vec
    if "scale" in vectors and np.any(vectors["scale"] <= 0):
        problems.append("scale must be > 0 everywhere")
    bias = data.get("bias")
    if not isinstance(bias, int | float) or isinstance(bias, bool) or not math.isfinite(bias):
        problems.append("bias must be a finite number")
    depth = data.get("depth", 50)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        problems.append("depth must be an integer >= 1")
    if problems:
        raise ValueError(f"{source}: invalid reranker model: " + "; ".join(problems))
    return LinearModel(
        features=FEATURE_NAMES,
        mean=vectors["mean"],
        scale=vectors["scale"],
        weights=vectors["weights"],
        bias=float(bias),
        depth=depth,
        info=dict(data.get("info") or {}),
    )


def load_model(path: str | Path) -> LinearModel:
    """Read and validate a model file. Raises ValueError when it is missing, not JSON or not a valid model."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{path}: cannot read reranker model: {e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: reranker model is not valid JSON: {e}") from e
    return parse_model(data, str(path))


class FeatureReranker:
    """Re-scores first-pass candidates with the committed learned model and returns them best first.

    `score` becomes the model's logit (higher = more likely relevant; comparable within one list), `rank` 1..n;
    dense and BM25 scores are kept. Rerank the first pass's top `depth` (50, what the model was trained on) and keep
    the top_k you need.

    Usage::

        reranker = FeatureReranker()  # retrievers/models/reranker.json
        reranker.warm_up()
        ranked = reranker.rerank("do statins reduce mortality?", retrieval.chunks[:50])[:5]
    """

    name = "feature-lr"

    def __init__(self, model_path: str | Path | None = None) -> None:
        """Raises: ValueError when `model_path` (default: the committed model) is not a file."""
        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        if not self.model_path.is_file():
            raise ValueError(f"reranker model file not found: {self.model_path}")
        self._model: LinearModel | None = None

    def warm_up(self) -> None:
        """Load and validate the model file (raises ValueError listing what is wrong with it)."""
        if self._model is None:
            self._model = load_model(self.model_path)

    @property
    def model(self) -> LinearModel:
        self.warm_up()
        assert self._model is not None
        return self._model

    @property
    def depth(self) -> int:
        """How many first-pass candidates the model was trained to rerank."""
        return self.model.depth

    def scores(self, query: str, candidates: Sequence[ScoredChunk]) -> np.ndarray:
        """The model score of each candidate, in input order."""
        if not candidates:
            return np.zeros(0)
        return self.model.score(compute_features(query, candidates))

    def rerank(self, query: str, candidates: Sequence[ScoredChunk]) -> list[ScoredChunk]:
        """Args: `candidates` in first-pass order (ties keep that order). Returns: the same chunks, best first."""
        if not candidates:
            return []
        s = self.scores(query, candidates)
        order = np.argsort(-s, kind="stable")
        return [replace(candidates[i], score=float(s[i]), rank=r) for r, i in enumerate(order.tolist(), start=1)]
