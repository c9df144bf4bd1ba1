"""Neighbour expansion: the chunks right before and after a hit, fetched with one store call per document.

A hit in the middle of a section is often half a passage (the chunker cut it at 800 characters). Its neighbours in the
same section complete it; a neighbour across a section boundary is another topic and is left out. Neighbours come
from the hit's own document version (`doc_hash`), so the chunks of an old version that is still being replaced can
never be stitched to a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.domain import Chunk, ScoredChunk
from app.core.filters import FieldCondition, Filter, Match, eq
from app.core.ports import ChunkStore


@dataclass(frozen=True)
class Adjacent:
    """The chunks at position − 1 and + 1 of a hit in its document version; None where there is none."""

    before: Chunk | None
    after: Chunk | None


def adjacent_filter(tenant: str, document_id: str, doc_hash: str, positions: Sequence[int]) -> Filter:
    """Chunks at the given positions of one document version, within one tenant."""
    return Filter(
        must=[
            eq("tenant", tenant),
            eq("document_id", document_id),
            eq("doc_hash", doc_hash),
            FieldCondition(key="position", match=Match(any=sorted(set(positions)))),
        ]
    )


def fetch_adjacent(store: ChunkStore, hits: Sequence[Chunk]) -> dict[str, Adjacent]:
    """The neighbours of every hit, keyed by hit id: one `list_chunks` call per document version.

    Args:
        store: the chunk store the hits came from.
        hits: the kept chunks to expand.

    Returns:
        hit id → `Adjacent`. A neighbour of another tenant, document or version is never returned, even by a store
        that ignored part of the filter.
    """
    by_doc: dict[tuple[str, str, str], list[Chunk]] = {}
    for h in hits:
        by_doc.setdefault((h.tenant, h.document_id, h.doc_hash), []).append(h)
    out: dict[str, Adjacent] = {}
    for (tenant, doc_id, doc_hash), doc_hits in by_doc.items():
        wanted = {p for h in doc_hits for p in (h.position - 1, h.position + 1) if p >= 0}
        found: dict[int, Chunk] = {}
        if wanted:
            flt = adjacent_filter(tenant, doc_id, doc_hash, sorted(wanted))
            for c in store.list_chunks(flt, limit=2 * len(wanted)):
                if c.tenant == tenant and c.document_id == doc_id and c.doc_hash == doc_hash and c.position in wanted:
                    found.setdefault(c.position, c)
        for h in doc_hits:
            out[h.id] = Adjacent(found.get(h.position - 1), found.get(h.position + 1))
    return out


@dataclass
class Group:
    """A kept hit with the neighbours attached to it."""

    hit: ScoredChunk
    before: ScoredChunk | None = None
    after: ScoredChunk | None = None

    def reading_order(self) -> list[ScoredChunk]:
        return [c for c in (self.before, self.hit, self.after) if c is not None]

    def by_priority(self) -> list[ScoredChunk]:
        """The hit first, then the chunk that continues it, then the one that leads into it (for the token budget)."""
        return [c for c in (self.hit, self.after, self.before) if c is not None]


def neighbour_score(hit: ScoredChunk, step: int) -> float:
    """A score just below the hit's (the chunk after a hit `step` 1, the one before it 2): a neighbour is worth a
    little less than the hit it completes, and is scored against no query."""
    return hit.score - step * 1e-6 * max(1.0, abs(hit.score))
