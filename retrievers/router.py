"""Intent routing: classify the question, then choose its retrieval plan."""

from __future__ import annotations

from app.core.domain import Intent, IntentResult, Query, RetrievalPlan


class IntentRouter:
    def __init__(self, default_top_k: int = 5, candidates: int = 50) -> None:
        self.default_top_k = default_top_k
        self.candidates = candidates

    def warm_up(self) -> None:
        return None

    def classify(self, text: str) -> IntentResult:
        return IntentResult(Intent.FACTUAL, 0.5, "default")

    def plan(self, intent: IntentResult, query: Query) -> RetrievalPlan:
        return RetrievalPlan(intent=intent.intent, top_k=query.top_k or self.default_top_k, candidates=self.candidates)
