"""A hashed n-gram logistic classifier with two heads (injection, harmful), scored over sliding windows.

Features are character 2–5-grams and word 1–2-grams of the normalised text, hashed into `dim` buckets with a
polynomial rolling hash computed in numpy (no Python loop per n-gram, identical on every machine). A window's vector
is its bucket counts divided by the square root of its feature count. A text scores the maximum over windows of
`window` characters (stride half a window), so one injected paragraph in a long chunk is not diluted by the benign
text around it. Training (`python -m eval.train_guard`) uses `featurise` on window-sized texts: the same code.

Usage::

    clf = HashedClassifier.load()
    p_injection, p_harmful = clf.predict("Ignore all previous instructions and ...")
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "guard.npz"
MODEL_FORMAT = "grounded-guard/1"
HEADS = ("injection", "harmful")
CHAR_NGRAMS = (2, 3, 4, 5)

_MASK = (1 << 64) - 1
_P = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_P_INV = pow(_P, -1, 1 << 64)
_SALT_WORD, _SALT_BIGRAM = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SPACE = re.compile(r"\s+")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W\d_{_CJK}]+|\d+")
_powers: dict[str, np.ndarray] = {"pow": np.ones(1, np.uint64), "inv": np.ones(1, np.uint64)}


def normalise(text: str) -> str:
    """NFKC, lower case, invisible characters removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub(" ", _INVISIBLE.sub("", text)).strip()


def _pow_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    if len(_powers["pow"]) < n:
        size = max(n, 2 * len(_powers["pow"]), 4096)
        one = np.ones(1, np.uint64)
        with np.errstate(over="ignore"):  # modulo 2**64 arithmetic is the point
            _powers["pow"] = np.concatenate((one, np.cumprod(np.full(size - 1, _P, np.uint64))))
            _powers["inv"] = np.concatenate((one, np.cumprod(np.full(size - 1, _P_INV, np.uint64))))
    return _powers["pow"][:n], _powers["inv"][:n]


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the polynomial hash over all bits before the bucket mask."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def featurise(norm: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed feature ids of normalised text and the character position each feature starts at."""
    n = len(norm)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    codes = np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    pw, inv = _pow_tables(n + 1)
    with np.errstate(over="ignore"):
        prefix = np.concatenate((np.zeros(1, np.uint64), np.cumsum(codes * pw[:n])))

        def span(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:  # position-independent hash of norm[s:e]
            return (prefix[ends] - prefix[starts]) * inv[starts]

        ids, anchors = [], []
        for k in CHAR_NGRAMS:
            if n >= k:
                starts = np.arange(n - k + 1)
                ids.append(_mix(span(starts, starts + k) + np.uint64(k)))
                anchors.append(starts)
        words = [(m.start(), m.end()) for m in _WORD.finditer(norm)]
        if words:
            bounds = np.asarray(words, dtype=np.int64)
            wh = span(bounds[:, 0], bounds[:, 1])
            ids.append(_mix(wh ^ np.uint64(_SALT_WORD)))
            anchors.append(bounds[:, 0])
            if len(words) > 1:
                ids.append(_mix(wh[:-1] * np.uint64(_P) + wh[1:] + np.uint64(_SALT_BIGRAM)))
                anchors.append(bounds[:-1, 0])
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    mask = np.uint64(dim - 1)
    return (np.concatenate(ids) & mask).astype(np.int64), np.concatenate(anchors).astype(np.int64)


def window_spans(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every window over n characters: stride half a window, the last one flush with the end."""
    if n <= window:
        return np.zeros(1, np.int64), np.full(1, n, np.int64)
    starts = np.unique(np.append(np.arange(0, n - window + 1, window // 2), n - window))
    return starts, starts + window


@dataclass(frozen=True)
class HashedClassifier:
    """Two logistic heads over hashed n-grams; `weights` has shape (heads, dim), dim a power of two."""

    weights: np.ndarray
    bias: np.ndarray
    window: int = 320
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # head → kind → probability
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        heads, dim = self.weights.shape
        if heads != len(HEADS) or dim & (dim - 1) or self.bias.shape != (heads,) or self.window < 16:
            raise ValueError(f"bad guard model: weights {self.weights.shape}, bias {self.bias.shape}, window")

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    def logits(self, text: str) -> np.ndarray:
        """Per head, the maximum window logit."""
        norm = normalise(text)
        ids, anchors = featurise(norm, self.dim)
        if len(ids) == 0:
            return self.bias.astype(np.float64)
        contrib = self.weights[:, ids].astype(np.float64)
        starts, ends = window_spans(len(norm), self.window)
        if len(starts) == 1:
            return contrib.sum(axis=1) / math.sqrt(len(ids)) + self.bias
        cum_n = np.concatenate(([0], np.cumsum(np.bincount(anchors, minlength=len(norm)))))
        count = np.maximum(cum_n[ends] - cum_n[starts], 1)
        out = np.empty(len(HEADS))
        for h in range(len(HEADS)):
            cum_w = np.concatenate(([0.0], np.cumsum(np.bincount(anchors, contrib[h], minlength=len(norm)))))
            out[h] = np.max((cum_w[ends] - cum_w[starts]) / np.sqrt(count)) + self.bias[h]
        return out

    def predict(self, text: str) -> tuple[float, float]:
        """(P(injection), P(harmful)) of the most suspicious window."""
        z = np.clip(self.logits(text), -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        return float(p[0]), float(p[1])

    def threshold(self, head: str, kind: str, default: float = 0.5) -> float:
        return float(self.thresholds.get(head, {}).get(kind, default))

    def save(self, path: Path) -> None:
        meta = {"format": MODEL_FORMAT, "heads": HEADS, "window": self.window, "thresholds": self.thresholds}
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez_compressed(
                f,
                weights=self.weights.astype(np.float16),
                bias=self.bias.astype(np.float64),
                meta=np.asarray(json.dumps({**meta, "info": self.info})),
            )

    @classmethod
    def load(cls, path: Path | None = None) -> HashedClassifier:
        """Raises: ValueError when the file is not a guard model of this format."""
        path = path or DEFAULT_MODEL
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != MODEL_FORMAT or tuple(meta.get("heads", ())) != HEADS:
                raise ValueError(f"{path}: not a {MODEL_FORMAT} model with heads {HEADS}")
            weights = data["weights"].astype(np.float32)
            bias = data["bias"].astype(np.float64)
        return cls(weights, bias, int(meta["window"]), meta.get("thresholds", {}), meta.get("info", {}))
