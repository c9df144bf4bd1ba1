"""Negative rejection on HaluEval: index half of the knowledge passages, ask every question.

A question whose passage was indexed should be answered (correctly: the reference answer appears in the answer);
a question whose passage was not indexed should be refused. Used by `eval.calibrate_gate` (the gate's threshold,
on one half of the rows) and `benchmarks/negative_rejection.py` (the figures, on the other half).

Rows are split deterministically by a hash of the question: `part` "calibration" or "benchmark" (disjoint), and
within a part, "present" (indexed) or "absent".
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HALUEVAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "grounding" / "halueval"
COLLECTION = "halueval"


@dataclass(frozen=True)
class Row:
    id: str
    question: str
    knowledge: str
    answer: str  # the reference (right) answer
    present: bool  # its knowledge passage is indexed


def _bucket(text: str, salt: str) -> int:
    return hashlib.sha256(f"{salt}:{text}".encode()).digest()[0]


def load_rows(path: Path, part: str, limit: int = 0) -> list[Row]:
    """Rows of one part ("calibration" | "benchmark"), each marked present/absent; `limit` keeps the first N."""
    if part not in ("calibration", "benchmark"):
        raise ValueError("part must be calibration or benchmark")
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            in_part = (_bucket(r["question"], "part") % 2 == 0) == (part == "calibration")
            if not in_part:
                continue
            present = _bucket(r["question"], "present") % 2 == 0
            out.append(Row(f"q{i}", r["question"], r["knowledge"], r["right_answer"], present))
            if limit and len(out) >= limit:
                break
    return out


def write_corpus(rows: Iterable[Row], path: Path) -> int:
    """The present rows' knowledge passages as a BEIR corpus (one document each)."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            if r.present:
                f.write(json.dumps({"_id": r.id, "title": "", "text": r.knowledge}) + "\n")
                n += 1
    return n


def build_collection(svc: Any, rows: list[Row], workdir: Path) -> dict:
    """Index the present rows' passages into `halueval` (skipped when already indexed with the same count)."""
    from app.cli_ingest import ingest_paths

    corpus = workdir / "halueval-corpus.jsonl"
    n = write_corpus(rows, corpus)
    try:
        if svc.kb.count_chunks("default", COLLECTION) >= n:
            return {"indexed": n, "reused": True}
    except Exception:  # noqa: BLE001 - no collection yet
        pass
    t = time.perf_counter()
    job = ingest_paths(svc, COLLECTION, [str(corpus)], {}, quiet=True)
    return {"indexed": n, "seconds": round(time.perf_counter() - t, 1), "job": job["status"]}


def normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def correct(answer: str, reference: str) -> bool:
    """The reference answer appears in the answer (word-normalised); yes/no references need the word itself."""
    ref = normalise(reference)
    return bool(ref) and f" {ref} " in f" {normalise(answer)} "


def run(rows: list[Row], ask: Callable[[str], Any], progress: bool = False) -> dict[str, Any]:
    """Ask every row's question with `ask(question) -> Answer`; rates and latency."""
    present = absent = refused_absent = refused_present = right = 0
    latencies, reasons = [], {}
    for i, r in enumerate(rows):
        t = time.perf_counter()
        a = ask(r.question)
        latencies.append((time.perf_counter() - t) * 1000)
        if r.present:
            present += 1
            if a.refused:
                refused_present += 1
            elif correct(a.answer, r.answer):
                right += 1
        else:
            absent += 1
            refused_absent += a.refused
        if a.refused:
            key = re.sub(r"[\d.]+", "#", (a.reason or "")[:60])
            reasons[key] = reasons.get(key, 0) + 1
        if progress and (i + 1) % 200 == 0:
            print(f"  {i + 1}/{len(rows)}", flush=True)
    answered = present - refused_present
    return {
        "questions": len(rows),
        "present": present,
        "absent": absent,
        "correct_refusal_rate": round(refused_absent / absent, 4) if absent else None,
        "false_refusal_rate": round(refused_present / present, 4) if present else None,
        "answer_correctness": round(right / answered, 4) if answered else None,
        "answer_correctness_all_present": round(right / present, 4) if present else None,
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p95": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        "refusal_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:8]),
    }
