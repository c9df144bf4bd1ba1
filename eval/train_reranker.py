"""Train the feature reranker (`retrievers/models/reranker.json`) on BEIR-format development data.

Recipe (what produced the committed model)::

    .venv/bin/python -m eval.train_reranker --data-dir bench-out/scifact --collection scifact \\
        --queries ../shared/data/retrieval/scifact/queries_train.jsonl \\
        --qrels ../shared/data/retrieval/scifact/qrels/train.tsv --out retrievers/models/reranker.json

1. First pass: every judged query runs hybrid retrieval (relevance floor off) for `--fetch` (100) chunks of an
   ingested collection. The candidates are pickled under `--cache-dir` (/tmp), keyed by index, collection, queries
   and fetch depth, so they are computed once. Open a *copy* of the index: qdrant-edge lets one process open a shard.
2. Features: `retrievers.features.compute_features` on the top `--depth` (50) candidates — the very code inference
   runs. Label: 1 when the chunk's document is judged relevant to the query.
3. Model: L2-regularised logistic regression (`--C` 1.0) on standardised features; scikit-learn is used here only,
   inference is numpy.
4. Honest figure: queries are split into `--folds` folds by a hash of their id; each fold is reranked by a model
   trained on the other folds, and nDCG@10 / recall@100 are reported over all queries (cross-fitted). Reranking
   reorders the top `depth`; chunks below keep their first-pass order.
5. The committed model is then fitted on all queries; its in-sample figure is printed too, but only the
   cross-fitted one estimates quality on unseen queries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.core.domain import ScoredChunk
from eval.retrieval import dedupe_documents, load_qrels, load_queries, ndcg_at_k, percentile, recall_at_k
from retrievers.features import FEATURE_NAMES, compute_features
from retrievers.rerank import FeatureReranker, LinearModel

Candidates = dict[str, tuple[str, list[ScoredChunk]]]  # query id → (query text, first-pass chunks)


def fold_of(query_id: str, folds: int) -> int:
    """Deterministic fold of a query: the same id always lands in the same fold, on any machine."""
    return int(hashlib.sha256(query_id.encode("utf-8")).hexdigest()[:8], 16) % folds


def collect_candidates(
    data_dir: Path, collection: str, tenant: str, queries: dict[str, str], fetch: int, cache_dir: Path
) -> Candidates:
    """First-pass candidates of every query, from the pickle cache when this exact run was done before."""
    key = hashlib.sha256(
        json.dumps([str(data_dir.resolve()), collection, tenant, fetch, sorted(queries.items())]).encode()
    ).hexdigest()[:16]
    cache = cache_dir / f"grounded-rerank-candidates-{key}.pkl"
    if cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)  # noqa: S301 — our own cache file
    from app.container import build_services
    from app.core.domain import Query
    from app.core.settings import Settings

    svc = build_services(Settings(data_dir=data_dir, env="test"))
    svc.warm_up()
    out: Candidates = {}
    try:
        for n, (qid, text) in enumerate(queries.items(), start=1):
            r = svc.retriever.run(Query(text, collection, tenant, top_k=fetch), floor=False)
            out[qid] = (text, list(r.chunks))
            if n % 100 == 0:
                print(f"\rfirst pass {n}/{len(queries)}", end="", file=sys.stderr, flush=True)
    finally:
        svc.close()
    print(file=sys.stderr)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as f:
        pickle.dump(out, f)
    return out


def fit(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], c: float, depth: int) -> LinearModel:
    """Logistic regression on standardised features (scikit-learn, imported here: training only)."""
    from sklearn.linear_model import LogisticRegression

    x, y = np.vstack(xs), np.concatenate(ys)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    lr = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
    return LinearModel(FEATURE_NAMES, mean, scale, lr.coef_[0].copy(), float(lr.intercept_[0]), depth, {})


def metrics(ranked: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> tuple[float, float]:
    """Mean nDCG@10 and recall@100 over queries, from ranked chunk external ids (documents deduplicated)."""
    docs = {q: dedupe_documents(ids) for q, ids in ranked.items()}
    ndcg = float(np.mean([ndcg_at_k(d, qrels[q], 10) for q, d in docs.items()]))
    recall = float(np.mean([recall_at_k(d, qrels[q], 100) for q, d in docs.items()]))
    return ndcg, recall


def reranked_ids(chunks: list[ScoredChunk], scores: np.ndarray, depth: int) -> list[str]:
    """Top `depth` in model order (stable), the rest in first-pass order."""
    top = chunks[:depth]
    order = np.argsort(-scores, kind="stable")
    return [top[i].chunk.external_id for i in order] + [c.chunk.external_id for c in chunks[depth:]]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.train_reranker", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="data dir of an ingested index (use a copy)")
    p.add_argument("--collection", required=True)
    p.add_argument("--tenant", default="default")
    p.add_argument("--queries", required=True)
    p.add_argument("--qrels", required=True)
    p.add_argument("--out", type=Path, required=True, help="model file to write (JSON)")
    p.add_argument("--depth", type=int, default=50, help="first-pass candidates reranked per query")
    p.add_argument("--fetch", type=int, default=100, help="first-pass chunks retrieved (recall@100 needs 100)")
    p.add_argument("--folds", type=int, default=2, help="cross-fitting folds for the honest figure")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp"), help="where first-pass candidates are cached")
    a = p.parse_args(argv)
    if a.depth < 1 or a.fetch < a.depth or a.folds < 2:
        p.error("need depth >= 1, fetch >= depth and folds >= 2")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    qrels = load_qrels(a.qrels)
    queries = {q: t for q, t in load_queries(a.queries).items() if q in qrels}
    cands = collect_candidates(a.data_dir, a.collection, a.tenant, queries, a.fetch, a.cache_dir)
    qids = list(cands)
    feats = {q: compute_features(cands[q][0], cands[q][1][: a.depth]) for q in qids}
    labels = {
        q: np.array([qrels[q].get(c.chunk.external_id, 0) > 0 for c in cands[q][1][: a.depth]], float) for q in qids
    }
    folds = {q: fold_of(q, a.folds) for q in qids}

    first_pass = {q: [c.chunk.external_id for c in cands[q][1]] for q in qids}
    crossfit: dict[str, list[str]] = {}
    for f in range(a.folds):
        train = [q for q in qids if folds[q] != f]
        model = fit([feats[q] for q in train], [labels[q] for q in train], a.C, a.depth)
        for q in qids:
            if folds[q] == f:
                crossfit[q] = reranked_ids(cands[q][1], model.score(feats[q]), a.depth)

    final = fit([feats[q] for q in qids], [labels[q] for q in qids], a.C, a.depth)
    insample = {q: reranked_ids(cands[q][1], final.score(feats[q]), a.depth) for q in qids}
    base, cross, ins = metrics(first_pass, qrels), metrics(crossfit, qrels), metrics(insample, qrels)
    info = {
        "trained_on": f"{Path(a.queries).name} ({len(qids)} queries, {a.collection})",
        "recipe": "python -m eval.train_reranker (see its docstring)",
        "C": a.C,
        "folds": a.folds,
        "hybrid_ndcg@10": round(base[0], 4),
        "crossfit_ndcg@10": round(cross[0], 4),
        "insample_ndcg@10": round(ins[0], 4),
    }
    final = LinearModel(final.features, final.mean, final.scale, final.weights, final.bias, a.depth, info)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(final.to_json(), indent=1) + "\n", encoding="utf-8")

    reranker = FeatureReranker(a.out)
    reranker.warm_up()
    latencies = []
    for q in qids:
        t = time.perf_counter()
        reranker.rerank(cands[q][0], cands[q][1][: a.depth])
        latencies.append((time.perf_counter() - t) * 1000)

    print(f"\n{len(qids)} queries, rerank depth {a.depth}, {a.folds}-fold cross-fitting, C={a.C}\n")
    print("| ranking | nDCG@10 | recall@100 |\n|---|---|---|")
    print(f"| hybrid (first pass) | {base[0]:.4f} | {base[1]:.4f} |")
    print(f"| hybrid + rerank, cross-fitted (honest) | {cross[0]:.4f} | {cross[1]:.4f} |")
    print(f"| hybrid + rerank, in-sample (final model) | {ins[0]:.4f} | {ins[1]:.4f} |")
    print("\n| feature | weight (standardised) |\n|---|---|")
    for name, w in sorted(zip(FEATURE_NAMES, final.weights, strict=True), key=lambda t: -abs(t[1])):
        print(f"| {name} | {w:+.3f} |")
    print(f"\nrerank latency per query: p50 {percentile(latencies, 50):.2f} ms, p95 {percentile(latencies, 95):.2f} ms")
    print(f"model written to {a.out} ({a.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
