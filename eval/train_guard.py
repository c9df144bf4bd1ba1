"""Train the guard classifier (`app/guards/models/guard.npz`) on the development data in ../shared/data.

    .venv/bin/python -m eval.train_guard [--data ../shared/data] [--out app/guards/models/guard.npz]

1. Samples: `eval.guard_data.load_samples`, split by source into train and dev (see there). Only train is fitted.
2. Model: `app.guards.classifier` features on window-sized texts; one L2 logistic regression per head (scipy
   L-BFGS; inference is numpy only), classes and sources balanced. A planted attack is paired with the same window
   of its context without the attack, labelled benign, so the model learns the attack, not the look of an e-mail.
3. Thresholds per kind: the 99th percentile of cross-fitted scores (3 folds by group) of benign train texts scored
   whole, as the detector scores them, each benign source of 30 or more texts weighted the same.
4. The classifier's own dev figures (no rules) are printed and stored in the model's `info`; the full guard's
   held-out figures come from `benchmarks/guard_detection.py`. Same data and seed, same weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.guards.classifier import DEFAULT_MODEL, HEADS, HashedClassifier, featurise, normalise, window_spans
from eval.guard_data import SHARED, Sample, load_samples


def training_windows(s: Sample, window: int, rng: random.Random, most: int = 3) -> list[tuple[str, bool]]:
    """Window-sized normalised texts of a sample, as the classifier scores them, each with whether it carries the
    sample's label. A planted attack gives the window around it *and* the same window of its context without the
    attack, labelled benign: the pair teaches the difference (the attack), not the look of an e-mail."""
    if s.span is not None:
        a, b = s.span
        lead = rng.randint(0, max(0, window - (b - a)))
        start = max(0, a - lead)
        context = s.text[:a] + s.text[b:]
        return [
            (normalise(s.text[start : start + max(window, b - a)])[: 2 * window], True),
            (normalise(context[start : start + window]), False),
        ]
    norm = normalise(s.text)
    starts, ends = window_spans(len(norm), window)
    picks = list(zip(starts.tolist(), ends.tolist(), strict=True))
    if len(picks) > most and s.label == "benign" and s.source != "bipia_contexts":
        picks = rng.sample(picks, most)
    return [(norm[a:b], True) for a, b in picks]


def design(samples: Sequence[Sample], window: int, dim: int, seed: int):
    """Sparse window matrix, the two label vectors and class- and source-balanced sample weights."""
    from scipy.sparse import csr_matrix

    rng = random.Random(f"{seed}:windows")
    rows, cols, vals, y, src = [0], [], [], [], []
    for s in samples:
        for text, carries in training_windows(s, window, rng):
            ids, _ = featurise(text, dim)
            uniq, counts = np.unique(ids, return_counts=True)
            cols.append(uniq)
            vals.append(counts / np.sqrt(max(len(ids), 1)))
            rows.append(rows[-1] + len(uniq))
            y.append((carries and s.label == "attack", carries and (s.label == "harmful" or s.harmful)))
            src.append(s.source if carries else f"{s.source}/context")
    x = csr_matrix((np.concatenate(vals), np.concatenate(cols), np.asarray(rows)), shape=(len(y), dim))
    labels = np.asarray(y, dtype=np.float64).T
    per_source = {k: v for k, v in zip(*np.unique(src, return_counts=True), strict=True)}
    base = np.asarray([1.0 / np.sqrt(per_source[k]) for k in src])
    weights = []
    for yh in labels:
        w = base.copy()
        for cls in (0.0, 1.0):
            w[yh == cls] *= 0.5 / max(w[yh == cls].sum(), 1e-12)
        weights.append(w)
    return x, labels, weights


def fit_head(x, y: np.ndarray, w: np.ndarray, l2: float, iters: int) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by L-BFGS: (weights, bias)."""
    from scipy.optimize import minimize
    from scipy.special import expit

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        g = w * (expit(z) - y)
        value = float(w @ (np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(theta[:-1] @ theta[:-1])
        return value, np.append(x.T @ g + l2 * theta[:-1], g.sum())

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": iters})
    return res.x[:-1], float(res.x[-1])


def fit(samples: Sequence[Sample], window: int, dim: int, l2: float, iters: int, seed: int) -> HashedClassifier:
    x, labels, weights = design(samples, window, dim, seed)
    heads = [fit_head(x, labels[h], weights[h], l2, iters) for h in range(len(HEADS))]
    return HashedClassifier(
        np.vstack([w for w, _ in heads]).astype(np.float32), np.asarray([b for _, b in heads]), window
    )


def _fold(s: Sample, folds: int) -> int:
    return int(hashlib.sha256((s.group or s.text).encode("utf-8")).hexdigest()[:8], 16) % folds


def crossfit_logits(train: Sequence[Sample], args: argparse.Namespace) -> dict[int, np.ndarray]:
    """Out-of-fold logits of every train sample (by index), each scored whole by a model that never saw its group."""
    out: dict[int, np.ndarray] = {}
    for k in range(args.folds):
        fitted = [s for s in train if _fold(s, args.folds) != k]
        clf = fit(fitted, args.window, args.dim, args.l2, args.iters, args.seed)
        for i, s in enumerate(train):
            if _fold(s, args.folds) == k:
                out[i] = clf.logits(s.text)
        print(f"fold {k + 1}/{args.folds} fitted on {len(fitted)} samples", file=sys.stderr)
    return out


def thresholds_from(train: Sequence[Sample], oof: dict[int, np.ndarray], quantile: float) -> dict[str, dict]:
    """Per head and kind, the probability above which only (1 − quantile) of benign train texts score."""
    out: dict[str, dict[str, float]] = {}
    for h, head in enumerate(HEADS):
        for kind in ("input", "document"):
            pool = [(oof[i][h], s.source) for i, s in enumerate(train) if s.label == "benign" and s.kind == kind]
            sizes = Counter(k for _, k in pool)
            pool = [(v, k) for v, k in pool if sizes[k] >= 30 and k != "handwritten"]  # no tiny or hand-picked sets
            z = np.asarray([v for v, _ in pool])
            per_source = {k: v for k, v in zip(*np.unique([k for _, k in pool], return_counts=True), strict=True)}
            w = np.asarray([1.0 / per_source[k] for _, k in pool])  # every source counts the same
            order = np.argsort(z)
            at = int(np.searchsorted(np.cumsum(w[order]) / w.sum(), quantile))
            out.setdefault(head, {})[kind] = round(float(1 / (1 + np.exp(-z[order][min(at, len(z) - 1)]))), 6)
        out[head]["output"] = out[head]["input" if head == "harmful" else "document"]
    return out


def report(samples: Sequence[Sample], clf: HashedClassifier) -> dict[str, dict[str, float]]:
    """Classifier alone (no rules), per source: the share flagged: attacks by the injection head, harmful requests
    by the harmful head, benign text by either head that applies to its kind."""
    flagged: dict[str, list[bool]] = {}
    for s in samples:
        hits = {head: p >= clf.threshold(head, s.kind) for head, p in zip(HEADS, clf.predict(s.text), strict=True)}
        if s.label == "attack":
            hit = hits["injection"]
        elif s.label == "harmful":
            hit = hits["harmful"]
        else:
            hit = hits["injection"] or (s.kind == "input" and hits["harmful"])
        flagged.setdefault(f"{s.label}/{s.source}", []).append(hit)
    return {k: {"n": len(v), "flagged": round(sum(v) / len(v), 4)} for k, v in sorted(flagged.items())}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.train_guard", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=SHARED, help="the development data (../shared/data)")
    p.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--dim", type=int, default=1 << 18, help="hash buckets (a power of two)")
    p.add_argument("--window", type=int, default=320, help="characters per scored window")
    p.add_argument("--l2", type=float, default=1e-4, help="L2 strength on the weighted mean loss")
    p.add_argument("--iters", type=int, default=300, help="L-BFGS iterations")
    p.add_argument("--folds", type=int, default=3, help="cross-fitting folds for the thresholds")
    p.add_argument("--quantile", type=float, default=0.99, help="benign quantile a threshold sits at")
    p.add_argument("--seed", type=int, default=13)
    args = p.parse_args(argv)
    if args.dim & (args.dim - 1) or not args.data.exists():
        p.error("--dim must be a power of two and --data must exist")
    started = time.perf_counter()
    samples = load_samples(args.data, args.seed)
    train = [s for s in samples if s.split == "train"]
    dev = [s for s in samples if s.split == "dev"]
    print(f"{len(train)} train / {len(dev)} dev samples", file=sys.stderr)
    thresholds = thresholds_from(train, crossfit_logits(train, args), args.quantile)
    clf = fit(train, args.window, args.dim, args.l2, args.iters, args.seed)
    clf = HashedClassifier(clf.weights, clf.bias, clf.window, thresholds, {})
    dev_report = report(dev, clf)
    info = {
        "trained_on": "train split of ../shared/data (see eval/train_guard.py)",
        "seed": args.seed,
        "dim": args.dim,
        "l2": args.l2,
        "quantile": args.quantile,
        "train_samples": len(train),
        "dev_classifier_only": dev_report,
        "seconds": round(time.perf_counter() - started, 1),
    }
    HashedClassifier(clf.weights, clf.bias, clf.window, thresholds, info).save(args.out)
    print(json.dumps({"thresholds": thresholds, "dev_classifier_only": dev_report}, indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
