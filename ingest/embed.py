"""Embed stage: dense + sparse vectors for chunks, in batches (the batch call is the primitive)."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.domain import Chunk, EncodedChunk
from app.core.ports import Embedder, SparseEncoder


class EmbedStage:
    """Usage::

    encoded = EmbedStage(MiniLMEmbedder(), Bm25Encoder()).run(chunks)
    encoded = EmbedStage({"default": minilm, "multilingual": use}, Bm25Encoder()).run(chunks, "multilingual")
    """

    def __init__(self, embedder: Embedder | dict[str, Embedder], sparse: SparseEncoder, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.embedders = embedder if isinstance(embedder, dict) else {"default": embedder}
        if "default" not in self.embedders:
            raise ValueError("the embedders need a 'default' entry")
        self.sparse = sparse
        self.batch_size = batch_size

    def run(self, chunks: Sequence[Chunk], embedder: str | None = None) -> list[EncodedChunk]:
        """Args: `embedder` names the collection's dense embedder (default: "default")."""
        emb = self.embedders.get(embedder or "default")
        if emb is None:
            raise ValueError(f"unknown embedder {embedder!r}; valid: {', '.join(sorted(self.embedders))}")
        texts = [c.index_text for c in chunks]
        dense = emb.embed_batch(texts)
        sparse = self.sparse.encode_documents(texts)
        return [EncodedChunk(c, tuple(d), s, emb.vector_name) for c, d, s in zip(chunks, dense, sparse, strict=True)]
