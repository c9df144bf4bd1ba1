"""Recall recovery: when the first pass finds too little evidence, try other ways before giving up."""

from __future__ import annotations

from collections.abc import Callable

from app.core.domain import Query, RetrievalPlan
from retrievers.postfilter import PassResult

Search = Callable[[Query, RetrievalPlan], PassResult]


class RecallRecovery:
    """Decides whether a pass found too little, and runs recovery steps in order until one finds enough."""

    def __init__(self, evidence_floor: float = 0.40) -> None:
        self.evidence_floor = evidence_floor

    def insufficient(self, result: PassResult, plan: RetrievalPlan) -> bool:
        return not result.kept or result.documents < plan.min_documents or result.top_dense < self.evidence_floor

    def run(
        self, query: Query, plan: RetrievalPlan, first: PassResult, search: Search
    ) -> tuple[PassResult, tuple[str, ...]]:
        return first, ("first_pass",)
