"""The mutable state of one answer while its stages run (timings, guard findings, passages, shown sentences)."""

from __future__ import annotations

import time
from typing import Any

from app.core.domain import Query
from app.core.grounding import Passage


class AnswerRun:
    """The mutable state of one answer while its stages run."""

    def __init__(self, query: Query, question: str, request_id: str) -> None:
        self.query, self.question, self.request_id = query, question, request_id
        self.timings: dict[str, float] = {}
        self.guard: dict[str, Any] = {}
        self.gate: dict[str, Any] = {}
        self.notices: tuple[str, ...] = ()
        self.passages: tuple[Passage, ...] = ()
        self.shown: list[str] = []
        self.withheld = False

    def timed(self, stage: str) -> StageTimer:
        return StageTimer(self, stage)

    def add_time(self, stage: str, t: float) -> None:
        self.timings[stage] = round(self.timings.get(stage, 0.0) + (time.perf_counter() - t) * 1000, 2)


class StageTimer:
    def __init__(self, run: AnswerRun, stage: str) -> None:
        self.run, self.stage = run, stage

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.run.add_time(self.stage, self.t)
