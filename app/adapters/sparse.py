"""BM25 sparse encoder: Qdrant's own BM25 (from qdrant-edge), multilingual tokenizer that segments Chinese.

Document vectors carry BM25 term-frequency saturation with length normalisation; the store's IDF modifier
supplies the inverse document frequency, so the two together are BM25.
"""

from __future__ import annotations

from collections.abc import Sequence

import qdrant_edge as q

from app.core.domain import SparseVector


class Bm25Encoder:
    """Usage::

    enc = Bm25Encoder(avg_len=120)
    doc_vecs = enc.encode_documents(["The cats ran."])
    qvec = enc.encode_query("cat running")
    """

    name = "qdrant-bm25"

    def __init__(self, avg_len: float = 120.0, k: float = 1.2, b: float = 0.75, language: str = "english") -> None:
        if avg_len <= 0 or k <= 0 or not 0 <= b <= 1:
            raise ValueError("need avg_len > 0, k > 0 and 0 <= b <= 1")
        self._bm25 = q.Bm25(
            q.Bm25Config(k=k, b=b, avg_len=avg_len, language=language, tokenizer=q.TokenizerType.Multilingual)
        )

    @staticmethod
    def _convert(v: q.SparseVector) -> SparseVector:
        return SparseVector(indices=tuple(v.indices), values=tuple(float(x) for x in v.values))

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [self._convert(self._bm25.embed_document(t)) for t in texts]

    def encode_query(self, text: str) -> SparseVector:
        return self._convert(self._bm25.embed_query(text))
