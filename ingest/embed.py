"""Embed stage: dense + sparse vectors for chunks, in batches (the batch call is the primitive)."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.domain import Chunk, EncodedChunk
from app.core.ports import Embedder, SparseEncoder


class EmbedStage:
    """Usage::

    encoded = EmbedStage(MiniLMEmbedder(), Bm25Encoder()).run(chunks)
    """

    def __init__(self, embedder: Embedder, sparse: SparseEncoder, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.embedder = embedder
        self.sparse = sparse
        self.batch_size = batch_size

    def run(self, chunks: Sequence[Chunk]) -> list[EncodedChunk]:
        texts = [c.index_text for c in chunks]
        dense = self.embedder.embed_batch(texts)
        sparse = self.sparse.encode_documents(texts)
        return [EncodedChunk(c, tuple(d), s) for c, d, s in zip(chunks, dense, sparse, strict=True)]
