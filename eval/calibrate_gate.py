"""Calibrate the evidence gate on development data and write `app/answer/models/gate.json`.

    .venv/bin/python -m eval.calibrate_gate [--limit N] [--target-refusal 0.95]

HaluEval dev, calibration half (disjoint from the benchmark half): half of its knowledge passages are indexed with the
default embedder; every question is retrieved; the gate's signals are the features, "its passage is indexed" the
label. A logistic regression (numpy, L2) is fitted on a random 70 % and the threshold chosen on the other 30 %: the
highest threshold whose false-refusal rate stays ≤ `--max-false-refusal`, unless the correct-refusal target needs a
higher one. The report (coefficients, threshold, rates on the held-out 30 %) is written next to the model.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from app.answer.gate import FEATURES, MODEL, signals
from eval.negative_rejection import COLLECTION, HALUEVAL, build_collection, load_rows


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 3000, lr: float = 0.5):
    """Plain gradient descent on standardised features; returns weights and bias in the original units."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= lr * (z.T @ (p - y) / len(y) + l2 * w)
        b -= lr * float(np.mean(p - y))
    return w / sd, b - float(np.sum(w * mu / sd))


def rates(p: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    """(correct refusal on absent, false refusal on present) when refusing below `threshold`."""
    refuse = p < threshold
    return float(refuse[y == 0].mean()), float(refuse[y == 1].mean())


def collect(rows: list, workdir: Path) -> tuple[list[list[float]], list[float]]:
    """Index the present passages, retrieve every question, return the gate signals and labels."""
    from app.container import build_services
    from app.core.settings import Settings

    answer = {"verifier": "none", "evidence_gate": False}
    svc = build_services(Settings(data_dir=workdir, env="test", answer=answer))
    svc.warm_up()
    svc.runner.start()
    print(f"indexed {build_collection(svc, rows, workdir)}", flush=True)
    feats, labels = [], []
    t = time.perf_counter()
    for r in rows:
        sig = signals(r.question, svc.kb.retrieve("default", COLLECTION, r.question))
        feats.append([sig[k] for k in FEATURES])
        labels.append(1.0 if r.present else 0.0)
    print(f"retrieved {len(rows)} questions in {time.perf_counter() - t:.0f} s", flush=True)
    svc.close()
    return feats, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="calibration rows (default: all ~4,000)")
    ap.add_argument("--target-refusal", type=float, default=0.95)
    ap.add_argument("--max-false-refusal", type=float, default=0.05)
    ap.add_argument("--data", default=str(HALUEVAL / "halueval_qa_dev.jsonl"))
    ap.add_argument("--workdir", default="", help="keeps the index and the signals (gate-features.jsonl)")
    ap.add_argument("--reuse", action="store_true", help="refit on the signals cached in --workdir")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    rows = load_rows(Path(args.data), "calibration", args.limit)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gate-"))
    cache = workdir / "gate-features.jsonl"
    if args.reuse and cache.exists():  # the retrieval signals of an earlier run (same rows): refit only
        cached = [json.loads(line) for line in cache.read_text().splitlines()]
        feats = [[c["signals"][k] for k in FEATURES] for c in cached]
        labels = [c["label"] for c in cached]
    else:
        feats, labels = collect(rows, workdir)
        with open(cache, "w") as f:
            for fv, label in zip(feats, labels, strict=True):
                f.write(json.dumps({"signals": dict(zip(FEATURES, fv, strict=True)), "label": label}) + "\n")
    x, y = np.array(feats), np.array(labels)
    idx = list(range(len(y)))
    random.Random(13).shuffle(idx)
    cut = int(0.7 * len(idx))
    tr, te = np.array(idx[:cut]), np.array(idx[cut:])
    w, b = fit_logistic(x[tr], y[tr])
    p = 1 / (1 + np.exp(-(x[te] @ w + b)))
    grid = np.linspace(0.02, 0.98, 97)
    table = [(float(th), *rates(p, y[te], th)) for th in grid]
    ok = [row for row in table if row[2] <= args.max_false_refusal]
    chosen = max(ok, key=lambda row: row[0]) if ok else table[0]
    if chosen[1] < args.target_refusal:  # the refusal target first: raise the threshold until it is met
        meeting = [row for row in table if row[1] >= args.target_refusal]
        chosen = min(meeting, key=lambda row: row[0]) if meeting else chosen
    threshold, crr, frr = chosen
    report = {
        "weights": {k: round(float(v), 5) for k, v in zip(FEATURES, w, strict=True)},
        "bias": round(float(b), 5),
        "threshold": round(threshold, 3),
        "calibration": {
            "data": "HaluEval QA dev, calibration half (hash split), half of its knowledge passages indexed",
            "rows": len(y),
            "held_out": len(te),
            "correct_refusal_rate": round(crr, 4),
            "false_refusal_rate": round(frr, 4),
            "curve": [
                {"threshold": round(th, 2), "correct_refusal": round(c, 4), "false_refusal": round(f, 4)}
                for th, c, f in table[::8]
            ],
            "command": "python -m eval.calibrate_gate",
        },
    }
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    MODEL.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "calibration"}, indent=2))
    print(f"held-out: correct refusal {crr:.3f}, false refusal {frr:.3f} at threshold {threshold:.2f}")


if __name__ == "__main__":
    main()
