"""ChunkStore on qdrant-client: a Qdrant server (GROUNDED_QDRANT_URL), or its local mode in tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as m

from app.adapters.qdrant_common import (
    DENSE,
    PAYLOAD_INDEXES,
    SPARSE,
    QdrantModels,
    chunk_to_payload,
    document_filter,
    meta_index_kinds,
    payload_to_chunk,
    scored_chunks,
    stale_filter,
    to_qdrant_filter,
)
from app.core.domain import Chunk, EncodedChunk, ScoredChunk, SparseVector
from app.core.errors import StoreError
from app.core.filters import Filter, eq

log = logging.getLogger(__name__)

CLIENT_MODELS = QdrantModels(
    filter=m.Filter,
    field_condition=m.FieldCondition,
    match_value=lambda v: m.MatchValue(value=v),
    match_any=lambda vs: m.MatchAny(any=vs),
    match_except=lambda vs: m.MatchExcept(**{"except": vs}),
    range=m.Range,
)
_INDEX_TYPES = {
    "bool": m.PayloadSchemaType.BOOL,
    "keyword": m.PayloadSchemaType.KEYWORD,
    "float": m.PayloadSchemaType.FLOAT,
    "integer": m.PayloadSchemaType.INTEGER,
}


class QdrantServerChunkStore:
    """Chunks in one collection of a Qdrant server, same layout and behaviour as `EdgeChunkStore`.

    Usage::

        store = QdrantServerChunkStore(QdrantClient(url="http://qdrant:6333"), "grounded_chunks", dim=384)
    """

    def __init__(
        self, client: QdrantClient, collection: str, dim: int, extra_vectors: dict[str, int] | None = None
    ) -> None:
        if dim <= 0 or any(d <= 0 for d in (extra_vectors or {}).values()):
            raise ValueError("dim must be positive")
        self.vectors = {DENSE: dim, **(extra_vectors or {})}
        if not collection:
            raise ValueError("collection name is required")
        self.client = client
        self.name = collection
        self.dim = dim
        self._ready = False
        self._indexed: set[str] = set()
        self._local = getattr(client, "_client", None).__class__.__name__ == "QdrantLocal"
        self._lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        collection: str,
        dim: int,
        api_key: str | None = None,
        extra_vectors: dict[str, int] | None = None,
    ) -> QdrantServerChunkStore:
        client = (
            QdrantClient(location=url, api_key=api_key, timeout=30)
            if url == ":memory:"
            else QdrantClient(url=url, api_key=api_key, timeout=30)
        )
        return cls(client, collection, dim, extra_vectors)

    def ensure_ready(self) -> None:
        with self._lock:
            if self._ready:
                return
            try:
                if not self.client.collection_exists(self.name):
                    self.client.create_collection(
                        self.name,
                        vectors_config={
                            n: m.VectorParams(size=d, distance=m.Distance.COSINE) for n, d in self.vectors.items()
                        },
                        sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
                    )
                    self._ensure_indexes(PAYLOAD_INDEXES)
            except Exception as e:
                raise StoreError(f"cannot prepare Qdrant collection {self.name!r}: {e}") from e
            self._ready = True

    def _ensure_indexes(self, kinds: dict[str, str]) -> None:
        for field, kind in kinds.items():
            if field not in self._indexed:
                if not self._local:  # qdrant-client's local mode has no payload indexes (and warns)
                    self.client.create_payload_index(self.name, field, _INDEX_TYPES[kind])
                self._indexed.add(field)

    def _filter(self, flt: Filter) -> m.Filter:
        return to_qdrant_filter(flt, CLIENT_MODELS)

    def upsert(self, items: Sequence[EncodedChunk]) -> None:
        if not items:
            return
        self.ensure_ready()
        points = [
            m.PointStruct(
                id=it.chunk.id,
                vector={
                    it.dense_name: list(it.dense),
                    SPARSE: m.SparseVector(indices=list(it.sparse.indices), values=list(it.sparse.values)),
                },
                payload=chunk_to_payload(it.chunk),
            )
            for it in items
        ]
        try:
            self.client.upsert(self.name, points=points, wait=True)
            self._ensure_indexes(meta_index_kinds([it.chunk for it in items]))
        except Exception as e:
            raise StoreError(f"upsert failed: {e}") from e

    def flush(self) -> None:
        """The server persists on its own; nothing to do."""

    def optimize(self, background: bool = False) -> bool:
        """A Qdrant server runs its optimisers itself."""
        return False

    def _delete(self, flt: Filter) -> None:
        self.ensure_ready()
        try:
            self.client.delete(self.name, points_selector=m.FilterSelector(filter=self._filter(flt)), wait=True)
        except Exception as e:
            raise StoreError(f"delete failed: {e}") from e

    def delete_document(self, tenant: str, document_id: str, keep_doc_hash: str | None = None) -> None:
        self._delete(document_filter(tenant, document_id, keep_doc_hash))

    def delete_stale(self, tenant: str, versions: dict[str, str]) -> None:
        if versions:
            self._delete(stale_filter(tenant, versions))

    def delete_collection(self, tenant: str, collection: str) -> None:
        self._delete(Filter(must=[eq("tenant", tenant), eq("collection", collection)]))

    def _query(self, **kwargs: Any) -> list[Any]:
        self.ensure_ready()
        try:
            kwargs.setdefault("with_payload", True)
            return self.client.query_points(self.name, **kwargs).points
        except Exception as e:
            raise StoreError(f"query failed: {e}") from e

    def hybrid_search(
        self,
        dense: Sequence[float],
        sparse: SparseVector,
        flt: Filter,
        limit: int,
        prefetch_limit: int,
        rrf_k: int = 60,
        weights: tuple[float, float] | None = None,
        fusion: str = "rrf",
        using: str = DENSE,
    ) -> list[ScoredChunk]:
        f = self._filter(flt)
        legs = [m.Prefetch(query=list(dense), using=using, filter=f, limit=prefetch_limit)]
        if sparse.indices:
            sv = m.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
            legs.append(m.Prefetch(query=sv, using=SPARSE, filter=f, limit=prefetch_limit))
        points = self._query(
            prefetch=legs,
            query=_fusion(fusion, rrf_k, weights, len(legs)),
            query_filter=f,
            limit=limit,
            with_vectors=[using],
        )
        sparse_scores: dict[str, float] | None = None
        if points:
            sparse_scores = {}
            if sparse.indices:
                sv = m.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
                leg = self._query(query=sv, using=SPARSE, query_filter=f, limit=prefetch_limit, with_payload=False)
                sparse_scores = {str(p.id): float(p.score) for p in leg}
        return scored_chunks(points, dense, None, sparse_scores, using=using)

    def dense_search(self, dense: Sequence[float], flt: Filter, limit: int, using: str = DENSE) -> list[ScoredChunk]:
        points = self._query(query=list(dense), using=using, query_filter=self._filter(flt), limit=limit)
        return scored_chunks(points, dense, "dense")

    def sparse_search(self, sparse: SparseVector, flt: Filter, limit: int) -> list[ScoredChunk]:
        if not sparse.indices:
            return []
        sv = m.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
        points = self._query(query=sv, using=SPARSE, query_filter=self._filter(flt), limit=limit)
        return scored_chunks(points, None, "sparse")

    def list_chunks(self, flt: Filter, limit: int = 1000, offset: int = 0) -> list[Chunk]:
        self.ensure_ready()
        f = self._filter(flt)
        records: list[Any] = []
        next_id: Any = None
        while True:
            page, next_id = self.client.scroll(
                self.name, scroll_filter=f, limit=1000, offset=next_id, with_payload=True
            )
            records.extend(page)
            if next_id is None or len(records) >= 100_000:
                break
        chunks = sorted(
            (payload_to_chunk(r.id, r.payload or {}) for r in records),
            key=lambda c: (c.collection, c.document_id, c.position),
        )
        return chunks[offset : offset + limit]

    def count(self, flt: Filter) -> int:
        self.ensure_ready()
        return int(self.client.count(self.name, count_filter=self._filter(flt), exact=True).count)

    def close(self) -> None:
        self.client.close()


def _fusion(kind: str, k: int, weights: tuple[float, float] | None, legs: int) -> Any:
    if kind == "dbsf":
        return m.FusionQuery(fusion=m.Fusion.DBSF)
    if kind != "rrf":
        raise ValueError(f"unknown fusion {kind!r}; valid: rrf, dbsf")
    return m.RrfQuery(rrf=m.Rrf(k=k, weights=list(weights[:legs]) if weights else None))
