"""Retrieval evaluation on BEIR-format data: nDCG@10, recall@10/100, MRR@10 and latency percentiles.

Chunk hits are mapped back to their documents' external ids; a document counts once, at its best rank.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from app.core.errors import InvalidInputError


def load_queries(path: str | Path) -> dict[str, str]:
    """BEIR queries.jsonl: one `{"_id", "text"}` per line."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out[str(row["_id"])] = str(row["text"])
            except (ValueError, KeyError, TypeError) as e:
                raise InvalidInputError(f"{path}: line {n} is not a query object with _id and text", "queries") from e
    return out


def load_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV: `query-id  corpus-id  score` with a header line."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or (n == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue
            if len(row) < 3:
                raise InvalidInputError(f"{path}: line {n} needs query-id, corpus-id and score", "qrels")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def dedupe_documents(external_ids: Sequence[str]) -> list[str]:
    """Chunk-level ranking → document ranking: each document at its best (first) rank."""
    seen: set[str] = set()
    out = []
    for e in external_ids:
        if e not in seen:
            seen.add(e)
            out.append(e)
    return out


def ndcg_at_k(ranked: Sequence[str], rels: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** rels.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum((2**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], rels: dict[str, int], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at_k(ranked: Sequence[str], rels: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    idx = (len(s) - 1) * p / 100
    lo, hi = math.floor(idx), math.ceil(idx)
    return s[lo] + (s[hi] - s[lo]) * (idx - lo)


def evaluate(
    search: Callable[[str], list[str]],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float | int]:
    """Run `search` (query text → ranked external ids of chunks) for every judged query and aggregate.

    Returns the keys `ndcg@10`, `recall@10`, `recall@100`, `mrr@10`, `latency_ms_p50`, `latency_ms_p95`, `queries`.
    """
    judged = [(qid, text) for qid, text in queries.items() if qid in qrels]
    if not judged:
        raise InvalidInputError("no query has relevance judgements in the qrels file", "qrels")
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    latencies = []
    for i, (qid, text) in enumerate(judged, start=1):
        t = time.perf_counter()
        ranked = dedupe_documents(search(text))
        latencies.append((time.perf_counter() - t) * 1000)
        rels = qrels[qid]
        totals["ndcg@10"] += ndcg_at_k(ranked, rels, 10)
        totals["recall@10"] += recall_at_k(ranked, rels, 10)
        totals["recall@100"] += recall_at_k(ranked, rels, 100)
        totals["mrr@10"] += mrr_at_k(ranked, rels, 10)
        if progress:
            progress(i, len(judged))
    n = len(judged)
    out: dict[str, float | int] = {k: round(v / n, 4) for k, v in totals.items()}
    out["latency_ms_p50"] = round(percentile(latencies, 50), 2)
    out["latency_ms_p95"] = round(percentile(latencies, 95), 2)
    out["queries"] = n
    return out
