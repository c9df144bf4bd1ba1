"""RetrievalService.run(query) — the ONE place the retrieval stage order is written:

intent → plan → (retrieve at all?) → first pass (pre-filtered hybrid) → rerank → post-filters
→ (too little evidence?) recall recovery → result with intent, plan, recovery path and decisions.
"""

from __future__ import annotations

import time
from dataclasses import replace

from app.core.domain import Query, Retrieval, RetrievalPlan
from app.core.ports import Reranker
from retrievers.hybrid import HybridRetriever
from retrievers.postfilter import PassResult, PostFilter
from retrievers.recovery import RecallRecovery
from retrievers.router import IntentRouter


class RetrievalService:
    """Usage::

    service = RetrievalService(IntentRouter(embedder), HybridRetriever(...), FeatureReranker(), PostFilter(store))
    result = service.run(Query("compare the refund and exchange policies", "policies"))
    result.intent.intent, result.plan, result.recovery_path
    """

    def __init__(
        self,
        router: IntentRouter,
        retriever: HybridRetriever,
        reranker: Reranker | None,
        postfilter: PostFilter,
        recovery: RecallRecovery | None = None,
    ) -> None:
        self.router, self.retriever, self.reranker = router, retriever, reranker
        self.postfilter = postfilter
        self.recovery = recovery or RecallRecovery()

    def warm_up(self) -> None:
        self.router.warm_up()
        warm = getattr(self.recovery, "warm_up", None)
        if warm is not None:
            warm()  # loads jieba once, not on the first Chinese query that needs recovery
        if self.reranker is not None:
            self.reranker.warm_up()

    def run(self, query: Query, plan: RetrievalPlan | None = None) -> Retrieval:
        """Args: `plan` skips intent classification (evaluation of a fixed plan)."""
        timings: dict[str, float] = {}
        t = time.perf_counter()
        intent = self.router.classify(query.text)
        plan = plan or self.router.plan(intent, query)
        timings["intent"] = _ms(t)
        if not plan.retrieve:
            return Retrieval(query, (), timings_ms=timings, intent=intent, plan=plan, recovery_path=("skipped",))
        first = self.search(query, plan, timings)
        result, path = first, ("first_pass",)
        if self.recovery.insufficient(first, plan):
            t = time.perf_counter()
            result, path = self.recovery.run(query, plan, first, lambda q, p: self.search(q, p, None))
            timings["recovery"] = _ms(t)
        return Retrieval(
            query=query,
            chunks=result.kept,
            dropped_below_floor=result.dropped_below_floor,
            timings_ms=timings,
            intent=intent,
            plan=plan,
            recovery_path=path,
            decisions=result.decisions,
        )

    def search(self, query: Query, plan: RetrievalPlan, timings: dict[str, float] | None) -> PassResult:
        """One pass: hybrid candidates → rerank → post-filters. Recovery calls this with rewritten queries."""
        t = time.perf_counter()
        reranking = plan.rerank and self.reranker is not None
        # Without a reranker the candidates only feed the post-filters (dedup, MMR, caps): 3× top_k is plenty, and
        # every candidate costs payload transfer and a cosine on the latency path.
        depth = plan.candidates if reranking else min(plan.candidates, max(3 * plan.top_k, 20))
        first = self.retriever.run(
            replace(query, top_k=max(depth, plan.top_k)),
            floor=False,
            weights=(plan.dense_weight, plan.sparse_weight),
            fusion=plan.fusion,
            # The candidate depth already over-fetches for top_k: each leg goes as deep as the candidates, not 4×.
            prefetch=max(depth, plan.top_k, 50),
        )
        candidates = list(first.chunks)
        if timings is not None:
            timings.update({f"search_{k}": v for k, v in first.timings_ms.items()})
            timings["first_pass"] = _ms(t)
        if reranking and self.reranker is not None and candidates:
            t = time.perf_counter()
            candidates = self.reranker.rerank(query.text, candidates)
            if timings is not None:
                timings["rerank"] = _ms(t)
        t = time.perf_counter()
        result = self.postfilter.run(query, candidates, plan)
        if timings is not None:
            timings["postfilter"] = _ms(t)
        return result


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
