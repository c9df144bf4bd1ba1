"""`POST /v1/retrieve` latency over real HTTP on the SciFact collection: p50 / p95 (target p50 ≤ 30 ms).

Starts `grounded serve` on a loopback port against the index from benchmarks/ingest_scifact.py, sends a bounded
number of sequential requests (SciFact train queries), then stops the server.

    .venv/bin/python benchmarks/retrieve_latency.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import time

from common import OUT, SCIFACT, require, serving

from eval.retrieval import percentile


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--port", type=int, default=18731)
    ap.add_argument("--top-k", type=int, default=10)
    args = ap.parse_args()
    data_dir = require(OUT / "scifact")
    queries = [json.loads(line)["text"] for line in open(require(SCIFACT / "queries_train.jsonl"))]
    with serving(data_dir, args.port) as client:
        body = lambda q: {"query": q, "collection": "scifact", "top_k": args.top_k}  # noqa: E731
        for q in queries[:20]:  # warm-up
            client.post("/v1/retrieve", json=body(q))
        lat, server_search, server_encode = [], [], []
        for i in range(args.requests):
            t = time.perf_counter()
            r = client.post("/v1/retrieve", json=body(queries[i % len(queries)]))
            lat.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
            t_ms = r.json()["timings_ms"]
            server_search.append(t_ms.get("search_search", t_ms.get("search", 0.0)))
            # The query is embedded once (the intent router and the retriever share a cached vector).
            server_encode.append(t_ms.get("search_encode", t_ms.get("encode", 0.0)) + t_ms.get("intent", 0.0))
    without_encode = [a - b for a, b in zip(lat, server_encode, strict=True)]
    print(
        json.dumps(
            {
                "requests": len(lat),
                "top_k": args.top_k,
                "http_p50_ms": round(percentile(lat, 50), 2),
                "http_p95_ms": round(percentile(lat, 95), 2),
                "search_only_p50_ms": round(percentile(server_search, 50), 2),
                "search_only_p95_ms": round(percentile(server_search, 95), 2),
                "query_encode_p50_ms": round(percentile(server_encode, 50), 2),
                "excluding_query_embedding_p50_ms": round(percentile(without_encode, 50), 2),
                "excluding_query_embedding_p95_ms": round(percentile(without_encode, 95), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
