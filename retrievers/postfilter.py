"""Post-filters: what happens to reranked candidates before they count as evidence.

The stages, in order (every drop and every addition is a `Decision`, so `explain=true` can say why):

1. quarantine: chunks flagged at ingest as carrying instructions aimed at the model (or flagged now by an optional
   `InjectionDetector`) are never returned;
2. relevance floor: a dense cosine below the floor drops the chunk, except the single best BM25 hit (an exact term
   match, a product code or a name, is evidence even when the embedding disagrees);
3. near-duplicates: the same text twice keeps the higher-ranked copy (see `retrievers.diversity`);
4. diversity: with `plan.mmr_lambda`, maximal marginal relevance decides the order in which chunks are taken
   (relevance: the reranker score min-max scaled within the list; similarity: shared content words);
5. per-document cap, then the top-k cut;
6. neighbours: with `plan.expand_neighbours`, the chunks right before and after a hit in the same section join it
   (they count against the token budget, not against top_k);
7. token budget: with `plan.token_budget`, chunks are kept in rank order until the budget is used; never the first.

Stages 3 to 5 run as one greedy pass over the candidates, in rank order or MMR order, that stops once top_k chunks
are kept, so a post-filter over 50 candidates compares about top_k of them, not 50 × 50 pairs. Two consequences for
`explain`: a candidate below the cut is said to be below the top k, whatever else it might have failed; a candidate
whose document is already full is said to be capped, even when it is also a near-duplicate. Which chunks are kept is
the same as running the stages one after the other, except that MMR measures redundancy against the chunks kept
(a chunk dropped by the cap cannot make another one redundant) and scales relevance over every candidate that passed
the floor.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from app.core.domain import Chunk, Decision, Query, RetrievalPlan, ScoredChunk
from app.core.ports import ChunkStore, InjectionDetector
from retrievers.diversity import CJK_CHARS, MMRSelector, NearDuplicates, TextSignatures, normalised_relevance
from retrievers.neighbours import Group, fetch_adjacent, neighbour_score

log = logging.getLogger(__name__)

# Hangul is counted like CJK here: its syllables cost about a token each.
_DENSE_SCRIPT = re.compile(rf"[{CJK_CHARS}\uac00-\ud7af]")


class FilterStage(StrEnum):
    """`Decision.stage` values written by the post-filters."""

    QUARANTINE = "quarantine"
    RELEVANCE_FLOOR = "relevance_floor"
    NEAR_DUPLICATE = "near_duplicate"
    PER_DOCUMENT_CAP = "per_document_cap"
    TOP_K = "top_k"
    NEIGHBOUR = "neighbour"
    TOKEN_BUDGET = "token_budget"
    KEPT = "kept"


def estimate_tokens(text: str) -> int:
    """Approximate LLM tokens: one per CJK or Hangul character, one per four characters of anything else."""
    dense = len(_DENSE_SCRIPT.findall(text))
    return dense + math.ceil((len(text) - dense) / 4)


@dataclass(frozen=True)
class PassResult:
    """Kept chunks (ranks 1..n, neighbours included) and a Decision for every candidate and every neighbour."""

    kept: tuple[ScoredChunk, ...]
    decisions: tuple[Decision, ...] = ()
    dropped_below_floor: int = 0
    candidates: tuple[ScoredChunk, ...] = field(default=(), repr=False)
    tokens: int = 0  # estimated tokens of the kept chunks' text

    @property
    def documents(self) -> int:
        return len({c.chunk.document_id for c in self.kept})

    @property
    def top_dense(self) -> float:
        scores = [c.dense_score for c in self.kept if c.dense_score is not None]
        return max(scores) if scores else 0.0


class PostFilter:
    """The post-filter stages, in the order above, for one list of reranked candidates.

    Usage::

        result = PostFilter(store, relevance_floor=0.25).run(query, reranked_candidates, plan)
        result.kept, result.decisions

    Args:
        store: where neighbours are fetched from; without one, `plan.expand_neighbours` is ignored (with a warning).
        relevance_floor: minimum dense cosine, or None for no floor.
        dedup_threshold: word-shingle Jaccard at which two texts are near-duplicates; None keeps only the check for
            identical text.
        shingle_size: words per shingle.
        detector: re-checks each candidate at retrieval (for chunks ingested before a detector existed, or after it
            improved); the flag stored at ingest always applies.
    """

    def __init__(
        self,
        store: ChunkStore | None = None,
        relevance_floor: float | None = 0.25,
        *,
        dedup_threshold: float | None = 0.9,
        shingle_size: int = 3,
        detector: InjectionDetector | None = None,
    ) -> None:
        if relevance_floor is not None and not -1.0 <= relevance_floor <= 1.0:
            raise ValueError(f"relevance_floor must be a cosine within [-1, 1] or None, got {relevance_floor}")
        if dedup_threshold is not None and not 0.0 < dedup_threshold <= 1.0:
            raise ValueError(f"dedup_threshold must be within (0, 1] or None, got {dedup_threshold}")
        if shingle_size < 1:
            raise ValueError(f"shingle_size must be at least 1, got {shingle_size}")
        self.store = store
        self.relevance_floor = relevance_floor
        self.dedup_threshold = dedup_threshold
        self.shingle_size = shingle_size
        self.detector = detector

    def run(self, query: Query, candidates: Sequence[ScoredChunk], plan: RetrievalPlan) -> PassResult:
        """Filter, diversify, cap, cut, expand and budget reranked candidates (best first).

        Raises:
            ValueError: `plan.mmr_lambda` outside [0, 1] or a `plan.token_budget` below 1.
        """
        if plan.token_budget is not None and plan.token_budget < 1:
            raise ValueError(f"token_budget must be at least 1 or None, got {plan.token_budget}")
        notes = _Notes(candidates)
        pool, below = self._screen(candidates, notes)
        groups = [Group(candidates[i]) for i in self._select(candidates, pool, plan, notes)]
        if plan.expand_neighbours and groups:
            if self.store is None:
                log.warning("neighbour expansion asked for but the post-filter has no store; skipped")
            else:
                self._expand(groups, notes)
        tokens, dropped = _budget(groups, plan.token_budget, notes)
        kept = [c for g in groups for c in g.reading_order() if id(c) not in dropped]
        ranked = tuple(replace(c, rank=r) for r, c in enumerate(kept, start=1))
        return PassResult(ranked, notes.decisions(), below, tuple(candidates), tokens)

    def quarantine_reason(self, chunk: Chunk) -> str | None:
        """Why a chunk must not reach the model, or None. The hook for the injection detector."""
        if chunk.quarantine:
            return f"flagged at ingest: {chunk.quarantine}"
        if self.detector is not None and (why := self.detector.detect(chunk.text)):
            return f"flagged at retrieval: {why}"
        return None

    def _screen(self, candidates: Sequence[ScoredChunk], notes: _Notes) -> tuple[list[int], int]:
        """Quarantine and relevance floor: the indexes of the candidates that pass, and how many fell below."""
        lexical = [c for c in candidates if c.sparse_score]
        champion = max(lexical, key=lambda c: c.sparse_score or 0.0).chunk.id if lexical else None
        floor = self.relevance_floor
        pool: list[int] = []
        below = 0
        for i, c in enumerate(candidates):
            if why := self.quarantine_reason(c.chunk):
                notes.set(i, False, FilterStage.QUARANTINE, why)
            elif floor is not None and c.dense_score is not None and c.dense_score < floor and c.chunk.id != champion:
                below += 1
                notes.set(i, False, FilterStage.RELEVANCE_FLOOR, f"dense {c.dense_score:.3f} < {floor:.2f}")
            else:
                pool.append(i)
        return pool, below

    def _select(
        self, candidates: Sequence[ScoredChunk], pool: list[int], plan: RetrievalPlan, notes: _Notes
    ) -> list[int]:
        """Near-duplicates → diversity → per-document cap → top-k, lazily in rank or MMR order. Returns kept indexes."""
        chunks = [candidates[i].chunk for i in pool]
        sig = TextSignatures([c.text for c in chunks], self.shingle_size)
        dups = NearDuplicates(chunks, sig, self.dedup_threshold)
        lam = plan.mmr_lambda
        mmr = None if lam is None else MMRSelector(normalised_relevance([candidates[i].score for i in pool]), sig, lam)
        order = iter(range(len(pool)))
        per_doc: dict[str, int] = {}
        kept: list[int] = []

        def name(j: int) -> str:
            return _ref(chunks[j], pool[j])

        def full(j: int) -> bool:
            return per_doc.get(chunks[j].document_id, 0) >= plan.per_document_cap

        while len(kept) < plan.top_k:
            j = mmr.next(doomed=full) if mmr is not None else next(order, None)
            if j is None:
                break
            i, c = pool[j], chunks[j]
            n = per_doc.get(c.document_id, 0)
            if n >= plan.per_document_cap:  # dropped either way: no need to compare it with anything
                notes.set(i, False, FilterStage.PER_DOCUMENT_CAP, f"document {c.document_id} already has {n} chunks")
                continue
            if repeat := dups.check(j):
                first, why = repeat
                notes.set(i, False, FilterStage.NEAR_DUPLICATE, f"{why} with {_ref(chunks[first], pool[first])}")
                continue
            reason = "passed every post-filter"
            if mmr is not None:
                reason += f"; MMR: {mmr.explain(j, name)}"
                mmr.accept(j)
            per_doc[c.document_id] = n + 1
            kept.append(i)
            notes.set(i, True, FilterStage.KEPT, reason)
        for j in mmr.remaining if mmr is not None else order:
            after = f" after diversity: {mmr.explain(j, name)}" if mmr is not None else ""
            notes.set(pool[j], False, FilterStage.TOP_K, f"below the top {plan.top_k}{after}")
        return kept

    def _expand(self, groups: list[Group], notes: _Notes) -> None:
        """Attach to each hit its neighbours that share its section; one store call per document."""
        assert self.store is not None
        adjacent = fetch_adjacent(self.store, [g.hit.chunk for g in groups])
        taken = {g.hit.chunk.id for g in groups}
        texts = {g.hit.chunk.content_hash: g.hit.chunk.id for g in groups if g.hit.chunk.content_hash}
        for g in groups:
            hit = g.hit.chunk
            adj = adjacent[hit.id]
            for side, nb, step in (("after", adj.after, 1), ("before", adj.before, 2)):
                if nb is None or nb.id in taken or notes.stage_of(nb.id) == FilterStage.NEAR_DUPLICATE:
                    continue
                where = f"position {nb.position}, {side} {_ref(hit, notes.index.get(hit.id))}"
                if nb.section_path != hit.section_path:
                    why = f"{where}: section boundary ({_section(nb)}, the hit is in {_section(hit)})"
                    notes.neighbour(nb.id, False, FilterStage.NEIGHBOUR, why)
                elif flag := self.quarantine_reason(nb):
                    notes.neighbour(nb.id, False, FilterStage.QUARANTINE, f"{where}: {flag}")
                elif nb.content_hash in texts:
                    why = f"{where}: identical text (same content_hash) with kept chunk {texts[nb.content_hash]}"
                    notes.neighbour(nb.id, False, FilterStage.NEAR_DUPLICATE, why)
                else:
                    taken.add(nb.id)
                    if nb.content_hash:
                        texts[nb.content_hash] = nb.id
                    setattr(g, side, ScoredChunk(nb, score=neighbour_score(g.hit, step)))
                    notes.neighbour(nb.id, True, FilterStage.NEIGHBOUR, f"{where}, same section {_section(hit)}")


class _Notes:
    """One Decision per candidate (its final fate) plus one per neighbour that was not a candidate."""

    def __init__(self, candidates: Sequence[ScoredChunk]) -> None:
        self.candidates = candidates
        self.notes: list[Decision | None] = [None] * len(candidates)
        self.index = {c.chunk.id: i for i, c in reversed(list(enumerate(candidates)))}
        self.extra: dict[str, Decision] = {}

    def set(self, i: int, kept: bool, stage: FilterStage, reason: str) -> None:
        self.notes[i] = Decision(self.candidates[i].chunk.id, kept, stage, reason)

    def stage_of(self, chunk_id: str) -> str | None:
        i = self.index.get(chunk_id)
        d = self.notes[i] if i is not None else self.extra.get(chunk_id)
        return d.stage if d is not None else None

    def neighbour(self, chunk_id: str, kept: bool, stage: FilterStage, reason: str) -> None:
        """A neighbour added (replaces what was said about it, as a candidate or for another hit) or refused (says
        nothing new about a candidate, and does not overwrite an earlier note)."""
        i = self.index.get(chunk_id)
        if i is None:
            if kept or chunk_id not in self.extra:
                self.extra[chunk_id] = Decision(chunk_id, kept, stage, reason)
        elif kept:
            old = self.notes[i]
            was = f" (as a candidate: {old.stage}, {old.reason})" if old is not None else ""
            self.notes[i] = Decision(chunk_id, kept, stage, reason + was)

    def drop(self, chunk_id: str, stage: FilterStage, reason: str) -> None:
        """A kept chunk (hit or neighbour) dropped by a later stage."""
        i = self.index.get(chunk_id)
        d = Decision(chunk_id, False, stage, reason)
        if i is None:
            self.extra[chunk_id] = d
        else:
            self.notes[i] = d

    def decisions(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.notes if d is not None) + tuple(self.extra.values())


def _budget(groups: list[Group], budget: int | None, notes: _Notes) -> tuple[int, set[int]]:
    """Keep chunks in rank order (a hit, the chunk after it, the one before it) until the budget is used.

    The first hit is kept even alone over budget: an answer from one long chunk beats no answer.

    Returns:
        Estimated tokens kept, and the `id()`s of the ScoredChunks dropped.
    """
    used, dropped = 0, set()
    full = False  # once one chunk does not fit, everything after it is dropped too: the order is the ranking
    for gi, g in enumerate(groups):
        for c in g.by_priority():
            t = estimate_tokens(c.chunk.text)
            if not full and (budget is None or used + t <= budget or (gi == 0 and c is g.hit)):
                used += t
                continue
            assert budget is not None
            if full:
                why = f"budget of {budget} tokens used up by higher-ranked chunks (~{used} kept)"
            else:
                why = f"needs ~{t} tokens, {max(budget - used, 0)} of {budget} left"
                full = True
            dropped.add(id(c))
            notes.drop(c.chunk.id, FilterStage.TOKEN_BUDGET, why)
    return used, dropped


def _ref(chunk: Chunk, position: int | None) -> str:
    return f"chunk {chunk.id}" + (f" (candidate {position + 1})" if position is not None else "")


def _section(chunk: Chunk) -> str:
    return "'" + " > ".join(chunk.section_path) + "'" if chunk.section_path else "(no section)"
