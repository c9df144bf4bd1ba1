"""Post-filters: what happens to first-pass candidates before they count as evidence.

Relevance floor, quarantine of chunks flagged as instructions aimed at the model, per-document cap, top-k cut.
Every drop is recorded as a Decision so `explain=true` can say why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from app.core.domain import Decision, Query, RetrievalPlan, ScoredChunk
from app.core.ports import ChunkStore


@dataclass(frozen=True)
class PassResult:
    kept: tuple[ScoredChunk, ...]
    decisions: tuple[Decision, ...] = ()
    dropped_below_floor: int = 0
    candidates: tuple[ScoredChunk, ...] = field(default=(), repr=False)

    @property
    def documents(self) -> int:
        return len({c.chunk.document_id for c in self.kept})

    @property
    def top_dense(self) -> float:
        scores = [c.dense_score for c in self.kept if c.dense_score is not None]
        return max(scores) if scores else 0.0


class PostFilter:
    """Usage::

    result = PostFilter(store, relevance_floor=0.25).run(query, reranked_candidates, plan)
    """

    def __init__(self, store: ChunkStore | None = None, relevance_floor: float | None = 0.25) -> None:
        self.store = store
        self.relevance_floor = relevance_floor

    def run(self, query: Query, candidates: Sequence[ScoredChunk], plan: RetrievalPlan) -> PassResult:
        decisions: list[Decision] = []
        kept: list[ScoredChunk] = []
        below = 0
        lexical = [c for c in candidates if c.sparse_score]
        champion = max(lexical, key=lambda c: c.sparse_score or 0.0).chunk.id if lexical else None
        per_doc: dict[str, int] = {}
        for c in candidates:
            cid = c.chunk.id
            if c.chunk.quarantine:
                decisions.append(Decision(cid, False, "quarantine", f"flagged at ingest: {c.chunk.quarantine}"))
                continue
            floor = self.relevance_floor
            if floor is not None and c.dense_score is not None and c.dense_score < floor and cid != champion:
                below += 1
                decisions.append(Decision(cid, False, "relevance_floor", f"dense {c.dense_score:.3f} < {floor:.2f}"))
                continue
            n = per_doc.get(c.chunk.document_id, 0)
            if n >= plan.per_document_cap:
                decisions.append(Decision(cid, False, "per_document_cap", f"document already has {n} chunks"))
                continue
            if len(kept) >= plan.top_k:
                decisions.append(Decision(cid, False, "top_k", f"below the top {plan.top_k}"))
                continue
            per_doc[c.chunk.document_id] = n + 1
            kept.append(c)
            decisions.append(Decision(cid, True, "kept", "passed every post-filter"))
        ranked = tuple(replace(c, rank=i) for i, c in enumerate(kept, start=1))
        return PassResult(ranked, tuple(decisions), below, tuple(candidates))
