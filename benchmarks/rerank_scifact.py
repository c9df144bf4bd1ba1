"""nDCG@10 / recall@100 on SciFact train queries: hybrid first pass vs hybrid + the committed feature reranker.

Each query retrieves 100 chunks (relevance floor off); the reranker reorders the top 50 (the depth it was trained
on) and the rest keep their first-pass order. The committed model was fitted on these very queries, so the
reranked figure here is in-sample; the honest estimate is the cross-fitted figure printed by
`python -m eval.train_reranker` and recorded in the model file (`info.crossfit_ndcg@10`).

qdrant-edge lets one process open a shard: point `--data-dir` at a copy when another benchmark uses the index.

    .venv/bin/python benchmarks/rerank_scifact.py [--data-dir /tmp/scifact-copy] [--limit 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import OUT, SCIFACT, require, scifact_settings

from eval.retrieval import dedupe_documents, load_qrels, load_queries, ndcg_at_k, percentile, recall_at_k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=OUT / "scifact")
    ap.add_argument("--collection", default="scifact")
    ap.add_argument("--limit", type=int, default=0, help="only the first N judged queries")
    args = ap.parse_args()

    from app.container import build_services
    from app.core.domain import Query
    from retrievers.rerank import FeatureReranker

    qrels = load_qrels(require(SCIFACT / "qrels" / "train.tsv"))
    queries = [(q, t) for q, t in load_queries(require(SCIFACT / "queries_train.jsonl")).items() if q in qrels]
    queries = queries[: args.limit] if args.limit else queries
    reranker = FeatureReranker()
    reranker.warm_up()
    depth = reranker.depth
    svc = build_services(scifact_settings(require(args.data_dir)))
    svc.warm_up()
    sums = {"hybrid": [0.0, 0.0], "rerank": [0.0, 0.0]}
    first_ms, rerank_ms = [], []
    try:
        for qid, text in queries:
            t = time.perf_counter()
            hits = list(svc.retriever.run(Query(text, args.collection, top_k=100), floor=False).chunks)
            first_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            top = reranker.rerank(text, hits[:depth])
            rerank_ms.append((time.perf_counter() - t) * 1000)
            for name, ranked in (("hybrid", hits), ("rerank", top + hits[depth:])):
                docs = dedupe_documents([c.chunk.external_id for c in ranked])
                sums[name][0] += ndcg_at_k(docs, qrels[qid], 10)
                sums[name][1] += recall_at_k(docs, qrels[qid], 100)
    finally:
        svc.close()
    n = len(queries)
    info = reranker.model.info
    print(f"\nSciFact train, {n} queries, rerank depth {depth}, model {reranker.model_path.name}\n")
    print("| ranking | nDCG@10 | recall@100 |\n|---|---|---|")
    print(f"| hybrid | {sums['hybrid'][0] / n:.4f} | {sums['hybrid'][1] / n:.4f} |")
    print(f"| hybrid + {reranker.name} (in-sample) | {sums['rerank'][0] / n:.4f} | {sums['rerank'][1] / n:.4f} |")
    print(
        f"\nThe model was trained on these queries. Honest (cross-fitted, {info.get('folds')}-fold) nDCG@10 from "
        f"training: {info.get('crossfit_ndcg@10')} vs hybrid {info.get('hybrid_ndcg@10')}."
    )
    print(
        f"first pass p50 {percentile(first_ms, 50):.2f} ms; rerank of {depth} candidates p50 "
        f"{percentile(rerank_ms, 50):.2f} ms, p95 {percentile(rerank_ms, 95):.2f} ms"
    )


if __name__ == "__main__":
    main()
