"""Hybrid retrieval: dense + BM25 legs as prefetches fused with RRF inside Qdrant, then a relevance floor."""

from __future__ import annotations

import time
from enum import StrEnum

from app.core.domain import Query, Retrieval
from app.core.ports import ChunkStore, Embedder, SparseEncoder
from retrievers.prefilter import build_filter


class RetrievalMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    SPARSE = "sparse"


class HybridRetriever:
    """Retrieves the chunks that best match a query inside the caller's scope.

    Each leg over-fetches `max(min_prefetch, top_k × prefetch_multiplier)` candidates; Qdrant fuses their ranks
    (dense cosine and BM25 scores are not comparable, ranks are). Chunks whose dense cosine is below
    `relevance_floor` are dropped — a lexical-only hit with no semantic similarity is rarely evidence — except the
    single best BM25 hit.

    Usage::

        retriever = HybridRetriever(embedder, bm25, store)
        result = retriever.run(Query("refund window?", collection="policies", top_k=5))
    """

    def __init__(
        self,
        embedder: Embedder | dict[str, Embedder],
        sparse: SparseEncoder,
        store: ChunkStore,
        prefetch_multiplier: int = 4,
        min_prefetch: int = 50,
        rrf_k: int = 60,
        relevance_floor: float | None = 0.25,
        mode: RetrievalMode = RetrievalMode.HYBRID,
    ) -> None:
        if prefetch_multiplier < 1 or min_prefetch < 1 or rrf_k < 1:
            raise ValueError("prefetch_multiplier, min_prefetch and rrf_k must be >= 1")
        self.embedders = embedder if isinstance(embedder, dict) else {"default": embedder}
        if "default" not in self.embedders:
            raise ValueError("the embedders need a 'default' entry")
        self.sparse, self.store = sparse, store
        self.prefetch_multiplier = prefetch_multiplier
        self.min_prefetch = min_prefetch
        self.rrf_k = rrf_k
        self.relevance_floor = relevance_floor
        self.mode = RetrievalMode(mode)

    def run(
        self,
        query: Query,
        mode: RetrievalMode | None = None,
        floor: float | None | bool = True,
        weights: tuple[float, float] | None = None,
        fusion: str = "rrf",
        prefetch: int | None = None,
    ) -> Retrieval:
        """Args: `mode` overrides the constructor's leg choice; `floor=False` disables the relevance floor;
        `weights` (dense, sparse) weight the legs in RRF; `fusion` is "rrf" or "dbsf"; `prefetch` sets each leg's depth
        (default: max(min_prefetch, top_k × prefetch_multiplier))."""
        mode = RetrievalMode(mode or self.mode)
        flt = build_filter(query)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        embedder = self.embedders.get(query.embedder or "default")
        if embedder is None:
            raise ValueError(f"unknown embedder {query.embedder!r}; valid: {', '.join(sorted(self.embedders))}")
        using = embedder.vector_name
        dense = embedder.embed_query(query.text) if mode != RetrievalMode.SPARSE else None
        sparse = self.sparse.encode_query(query.text) if mode != RetrievalMode.DENSE else None
        timings["encode"] = _ms(t)
        t = time.perf_counter()
        prefetch = (
            max(prefetch or 0, query.top_k, self.min_prefetch)
            if prefetch
            else max(self.min_prefetch, query.top_k * self.prefetch_multiplier)
        )
        if mode == RetrievalMode.HYBRID:
            assert dense is not None and sparse is not None
            hits = self.store.hybrid_search(
                dense, sparse, flt, query.top_k, prefetch, self.rrf_k, weights=weights, fusion=str(fusion), using=using
            )
        elif mode == RetrievalMode.DENSE:
            assert dense is not None
            hits = self.store.dense_search(dense, flt, query.top_k, using=using)
        else:
            assert sparse is not None
            hits = self.store.sparse_search(sparse, flt, query.top_k)
        timings["search"] = _ms(t)
        floor_value = self.relevance_floor if floor is True else (None if floor is False else floor)
        kept = hits
        if floor_value is not None and mode != RetrievalMode.SPARSE:
            # The BM25 leg's best hit survives the floor: an exact keyword match (a code, a name) is evidence even
            # when the embedding misses it. It cannot lift the evidence gate, which reads dense scores only.
            lexical = [h for h in hits if h.sparse_score]
            champion = max(lexical, key=lambda h: h.sparse_score or 0.0).chunk.id if lexical else None
            kept = [h for h in hits if h.dense_score is None or h.dense_score >= floor_value or h.chunk.id == champion]
        return Retrieval(query=query, chunks=tuple(kept), dropped_below_floor=len(hits) - len(kept), timings_ms=timings)


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
