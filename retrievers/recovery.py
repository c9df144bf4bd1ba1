"""Recall recovery: when the first pass finds too little evidence, try other ways before giving up.

Steps, in order, each only when it applies, stopping at the first that finds enough:

1. ``keywords`` — the query cut to its content keywords, searched with the BM25 leg weighted up.
2. ``split`` — a multi-part question searched part by part; the parts' results interleaved so each is represented.
3. ``relax_soft_filters`` — the search again without the caller's soft filters (hard filters always stay).
4. ``llm_expansion`` — only with an `expander` hook (an LLM writing alternative queries or a hypothetical answer).

The path records every step tried. When no step finds enough, the best result seen is returned and the path ends
with ``best:<step>``, naming the step whose evidence it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from app.core.domain import Decision, Query, RetrievalPlan, ScoredChunk
from retrievers.postfilter import PassResult, estimate_tokens
from retrievers.rewrite import keywords, split_question
from retrievers.rewrite import warm_up as warm_up_rewrite

log = logging.getLogger(__name__)

Search = Callable[[Query, RetrievalPlan], PassResult]
Expander = Callable[[str], list[str]]
Attempt = Callable[[Search], PassResult]


class RecallRecovery:
    """Decides whether a pass found too little, and runs recovery steps in order until one finds enough.

    Args:
        evidence_floor: a pass whose best dense cosine is below this found too little (the answer stage's floor).
        expander: optional hook, text → alternative queries (multi-query, or a hypothetical answer to search with).
            None (the default) skips the `llm_expansion` step.
        keyword_sparse_boost: the keyword retry multiplies the plan's BM25 weight by this.
        max_parts: at most this many parts of a split question (or expansions) are searched.

    Usage::

        recovery = RecallRecovery(evidence_floor=0.40)
        if recovery.insufficient(first, plan):
            result, path = recovery.run(query, plan, first, search)  # path e.g. ("first_pass", "keywords")
    """

    def __init__(
        self,
        evidence_floor: float = 0.40,
        expander: Expander | None = None,
        keyword_sparse_boost: float = 2.0,
        max_parts: int = 4,
    ) -> None:
        if keyword_sparse_boost <= 0:
            raise ValueError("keyword_sparse_boost must be > 0")
        if max_parts < 2:
            raise ValueError("max_parts must be >= 2")
        self.evidence_floor = evidence_floor
        self.expander = expander
        self.keyword_sparse_boost = keyword_sparse_boost
        self.max_parts = max_parts

    def warm_up(self) -> None:
        """Load the Chinese segmenter the keyword rewrite uses (otherwise loaded by the first Chinese recovery)."""
        warm_up_rewrite()

    def insufficient(self, result: PassResult, plan: RetrievalPlan) -> bool:
        return not result.kept or result.documents < plan.min_documents or result.top_dense < self.evidence_floor

    def run(
        self, query: Query, plan: RetrievalPlan, first: PassResult, search: Search
    ) -> tuple[PassResult, tuple[str, ...]]:
        """Args: `search(query, plan)` runs one full pass (hybrid → rerank → post-filters).

        Returns: the first sufficient result and the steps tried up to it, or the best result seen and every step
        tried followed by ``best:<step>``."""
        path = ["first_pass"]
        best, best_step = first, "first_pass"
        for step, attempt in self._steps(query, plan):
            result = attempt(search)
            path.append(step)
            if not self.insufficient(result, plan):
                return result, tuple(path)
            if self._rank(result, plan) > self._rank(best, plan):
                best, best_step = result, step
        if len(path) == 1:
            return first, ("first_pass",)
        return best, (*path, f"best:{best_step}")

    def _rank(self, r: PassResult, plan: RetrievalPlan) -> tuple[bool, float, int, int]:
        return (r.documents >= plan.min_documents, round(r.top_dense, 6), r.documents, len(r.kept))

    def _steps(self, query: Query, plan: RetrievalPlan) -> Iterator[tuple[str, Attempt]]:
        kw = keywords(query.text)
        if kw:
            kw_query = replace(query, text=kw)
            kw_plan = replace(plan, sparse_weight=plan.sparse_weight * self.keyword_sparse_boost)
            yield "keywords", lambda search: search(kw_query, kw_plan)
        parts = split_question(query.text, self.max_parts)
        if len(parts) >= 2:
            yield "split", lambda search: self._per_part(query, plan, parts, search, "part")
        relaxed = query
        if query.soft_filters is not None and not _empty(query.soft_filters):
            relaxed = replace(query, soft_filters=None)
            yield "relax_soft_filters", lambda search: search(relaxed, plan)
        if self.expander is not None:
            alternatives = self._expand(query.text)
            if alternatives:
                # Multi-query over the widest scope tried so far: soft filters already proved too narrow.
                yield "llm_expansion", lambda search: self._per_part(relaxed, plan, alternatives, search, "expansion")

    def _expand(self, text: str) -> list[str]:
        assert self.expander is not None
        try:
            out = self.expander(text)
        except Exception:  # an LLM outage must not fail retrieval: the step is skipped
            log.warning("recall expansion failed; skipping it", exc_info=True)
            return []
        seen = {text.strip().lower()}
        alternatives = []
        for alt in out:
            alt = alt.strip()
            if alt and alt.lower() not in seen:
                seen.add(alt.lower())
                alternatives.append(alt)
        return alternatives[: self.max_parts]

    def _per_part(
        self, query: Query, plan: RetrievalPlan, texts: Sequence[str], search: Search, label: str
    ) -> PassResult:
        results = [search(replace(query, text=t), plan) for t in texts]
        return merge_parts(texts, results, plan, label)


def merge_parts(texts: Sequence[str], results: Sequence[PassResult], plan: RetrievalPlan, label: str) -> PassResult:
    """Union of per-part results, deduplicated by chunk id (a duplicate hit keeps its best dense score), interleaved
    round-robin so every part is represented, then cut like one pass: hits to top_k (for a comparison, min_documents
    ≥ 2, at least two per part), the per-document cap, and the token budget. A hit's neighbours travel with it and do
    not count against top_k. Decisions name the part each chunk came from."""
    per_part = 2 if plan.min_documents >= 2 else 1
    limit = max(plan.top_k, per_part * len(texts))
    units: dict[str, list[ScoredChunk]] = {}  # hit id → [neighbours before..., hit, neighbours after...]
    sources: dict[str, list[int]] = {}
    parts = [_units(r) for r in results]
    for rank in range(max((len(p) for p in parts), default=0)):
        for i, p in enumerate(parts):
            if rank >= len(p):
                continue
            hit, unit = p[rank]
            if hit.chunk.id not in units:
                units[hit.chunk.id], sources[hit.chunk.id] = unit, [i]
                continue
            sources[hit.chunk.id].append(i)
            old = units[hit.chunk.id]
            if _dense(hit) > max(_dense(c) for c in old):
                units[hit.chunk.id] = unit

    def where(cid: str) -> str:
        return ", ".join(f"{label} {i + 1} ({texts[i][:60]!r})" for i in sources[cid])

    kept: list[ScoredChunk] = []
    decisions: list[Decision] = []
    taken: set[str] = set()
    per_doc: dict[str, int] = {}
    hits = tokens = 0
    budget = plan.token_budget
    for hit_id, unit in units.items():
        doc = next(c.chunk.document_id for c in unit if c.chunk.id == hit_id)
        new = [c for c in unit if c.chunk.id not in taken]
        cost = sum(estimate_tokens(c.chunk.text) for c in new)
        if hit_id in taken:
            decisions.append(Decision(hit_id, True, "kept", f"already kept as a neighbour; from {where(hit_id)}"))
            continue
        if per_doc.get(doc, 0) >= plan.per_document_cap:
            stage, why = "per_document_cap", f"document {doc} already has {per_doc[doc]} chunks"
        elif hits >= limit:
            stage, why = "top_k", f"below the merged top {limit}"
        elif budget is not None and hits and tokens + cost > budget:
            stage, why = "token_budget", f"needs ~{cost} tokens, {max(budget - tokens, 0)} of {budget} left"
        else:
            per_doc[doc] = per_doc.get(doc, 0) + 1
            hits, tokens = hits + 1, tokens + cost
            for c in new:
                taken.add(c.chunk.id)
                kept.append(replace(c, rank=len(kept) + 1))
                what = ("kept", "from") if c.chunk.id == hit_id else ("neighbour", f"neighbour of {hit_id}, from")
                decisions.append(Decision(c.chunk.id, True, what[0], f"{what[1]} {where(hit_id)}"))
            continue
        decisions.append(Decision(hit_id, False, stage, f"{why}; from {where(hit_id)}"))
    said = {d.chunk_id for d in decisions}
    for i, r in enumerate(results):
        for d in r.decisions:
            if d.chunk_id not in said:
                said.add(d.chunk_id)
                decisions.append(replace(d, reason=f"{label} {i + 1}: {d.reason}"))
    candidates = {c.chunk.id: c for r in results for c in r.candidates}
    return PassResult(
        kept=tuple(kept),
        decisions=tuple(decisions),
        dropped_below_floor=sum(r.dropped_below_floor for r in results),
        candidates=tuple(candidates.values()),
        tokens=tokens,
    )


def _units(result: PassResult) -> list[tuple[ScoredChunk, list[ScoredChunk]]]:
    """A pass's kept chunks as (hit, [before..., hit, after...]) in rank order. The post-filter lists each hit in
    reading order with the neighbours it added (Decision stage "neighbour"): before, hit, after."""
    neighbours = {d.chunk_id for d in result.decisions if d.kept and d.stage == "neighbour"}
    out: list[tuple[ScoredChunk, list[ScoredChunk]]] = []
    pending: list[ScoredChunk] = []
    for c in result.kept:
        if c.chunk.id not in neighbours:
            out.append((c, [*pending, c]))
            pending = []
        elif out and _follows(c, out[-1][0]) and not pending:
            out[-1][1].append(c)
        else:
            pending.append(c)
    if pending and out:
        out[-1][1].extend(pending)
    return out


def _follows(c: ScoredChunk, hit: ScoredChunk) -> bool:
    return c.chunk.document_id == hit.chunk.document_id and c.chunk.position == hit.chunk.position + 1


def _dense(c: ScoredChunk) -> float:
    return c.dense_score if c.dense_score is not None else -1.0


def _empty(flt: object) -> bool:
    is_empty = getattr(flt, "is_empty", None)
    return bool(is_empty()) if callable(is_empty) else False
