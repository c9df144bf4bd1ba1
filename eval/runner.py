"""QaEvaluator: answers every case of a suite through the real answer path, then scores and summarises the rows.

The order is written here only: answer (+ a top-10 retrieval when the case names reference documents) → our own
metrics and Ragas' no-LLM metrics → the Ragas LLM judge (when one is configured) → summaries and gates. A question
whose answer raises is kept as a row with `error` (its metrics counted as missing), never dropped.

Example:
    evaluator = QaEvaluator(svc.kb, verifier=svc.answers.verification.verifier, judge=None)
    run = evaluator.run(suite, "demo", tenant="default", groups=None, metrics=None)
    run.aggregate["false_refusal_rate"]
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from app.core.domain import Retrieval
from app.core.grounding import Answer
from app.core.ports import Verifier
from app.core.runtime import EVALUATING
from eval.aggregate import percentile, summarise_rows
from eval.metrics import own_scores
from eval.ragas_metrics import no_llm_scores
from eval.results import (
    ALL_METRICS,
    LLM_METRICS,
    NDCG_10,
    RAGAS_NO_LLM_METRICS,
    RECALL_10,
    CaseRow,
    RunResult,
    Suite,
    SuiteCase,
)

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (phase, done, total)


class Answerer(Protocol):
    """What the evaluator needs of the knowledge base (KnowledgeBase satisfies it)."""

    def answer(
        self, tenant: str, collection: str, question: str, top_k: int | None = None, *, groups: Any = None
    ) -> Answer: ...

    def retrieve(
        self, tenant: str, collection: str, text: str, top_k: int | None = None, *, groups: Any = None
    ) -> Retrieval: ...


class Judge(Protocol):
    name: str

    @property
    def stats(self) -> dict[str, Any]: ...

    def score(
        self, rows: Sequence[CaseRow], metrics: Sequence[str], progress: Callable[[int, int], None] | None
    ) -> None: ...


def select_metrics(requested: Sequence[str] | None, judged: bool) -> list[str]:
    """The metrics of a run: the requested ones (validated), else everything that can run with this judge.

    Raises:
        ValueError: an unknown metric, or an LLM metric without a judge (the message lists the valid names).
    """
    if not requested:
        return [m for m in ALL_METRICS if judged or m not in LLM_METRICS]
    unknown = [m for m in requested if m not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; valid: {', '.join(ALL_METRICS)}")
    needs_judge = [m for m in requested if m in LLM_METRICS]
    if needs_judge and not judged:
        raise ValueError(f"{', '.join(needs_judge)} need an LLM judge (--judge local or openai), not 'none'")
    return list(dict.fromkeys(requested))


class QaEvaluator:
    """Runs a suite against a collection. `verifier` checks citations (citation precision); `judge` scores the Ragas
    LLM metrics (None: only the metrics that need no LLM)."""

    def __init__(self, kb: Answerer, verifier: Verifier | None = None, judge: Judge | None = None) -> None:
        self.kb, self.verifier, self.judge = kb, verifier, judge

    def run(
        self,
        suite: Suite,
        collection: str,
        tenant: str,
        groups: tuple[str, ...] | None = None,
        metrics: Sequence[str] | None = None,
        progress: Progress | None = None,
        run_id: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> RunResult:
        chosen = select_metrics(metrics, self.judge is not None)
        started = time.perf_counter()
        run = RunResult(
            run_id or f"run-{uuid.uuid4().hex[:12]}",
            suite.id,
            suite.name,
            collection,
            self.judge.name if self.judge else "none",
            chosen,
            datetime.now(UTC).isoformat(),
            status="running",
            config=dict(config or {}),
        )
        tick = progress or (lambda phase, done, total: None)
        token = EVALUATING.set(True)  # suite answers are not live traffic
        try:
            self._answer_all(suite, collection, tenant, groups, chosen, run, tick)
        finally:
            EVALUATING.reset(token)
        llm = [m for m in chosen if m in LLM_METRICS]
        if self.judge is not None and llm:
            answered = [r for r in run.rows if not r.error]
            self.judge.score(answered, llm, lambda done, n: tick("judging", done, n))
            run.judge_stats = dict(self.judge.stats)
        run.summaries = summarise_rows(run.rows, chosen)
        latencies = [r.latency_ms for r in run.rows if not r.error]
        run.config["latency_p50_ms"] = percentile(latencies, 50)
        run.config["latency_p95_ms"] = percentile(latencies, 95)
        run.config["answer_errors"] = sum(1 for r in run.rows if r.error)
        run.wall_s = round(time.perf_counter() - started, 3)
        run.finished_at = datetime.now(UTC).isoformat()
        run.status = "succeeded"
        return run

    def _answer_all(
        self,
        suite: Suite,
        collection: str,
        tenant: str,
        groups: tuple[str, ...] | None,
        chosen: list[str],
        run: RunResult,
        tick: Progress,
    ) -> None:
        total = len(suite.cases)
        for i, case in enumerate(suite.cases, start=1):
            row, ranked = self._answer(case, collection, tenant, groups, chosen)
            scores = own_scores(case, row, self.verifier, ranked)
            scores.update(no_llm_scores(row, case.reference_document_ids, case.reference_contexts, chosen))
            row.scores = {m: s for m, s in scores.items() if m in chosen}
            run.rows.append(row)
            tick("answering", i, total)

    def _answer(
        self, case: SuiteCase, collection: str, tenant: str, groups: tuple[str, ...] | None, metrics: list[str]
    ) -> tuple[CaseRow, list[str] | None]:
        row = CaseRow(case.id, case.question, case.tags, case.answerable, reference_answer=case.reference_answer)
        t0 = time.perf_counter()
        try:
            a = self.kb.answer(tenant, collection, case.question, groups=groups)
        except Exception as e:  # one bad question must not sink the run: the row reports it
            log.warning("eval case %s failed: %s", case.id, e)
            row.error = f"{type(e).__name__}: {e}"
            return row, None
        row.latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        row.answer, row.refused, row.reason, row.support = a.answer, a.refused, a.reason, round(a.support, 4)
        row.contexts = [p.text for p in a.passages]
        row.context_document_ids = [p.chunk.chunk.external_id for p in a.passages]
        row.citations = [{"n": c.n, "document_id": c.external_id, "text": c.text} for c in a.citations]
        row.verdicts = [v.to_dict() for v in a.verdicts]
        ranked = None
        if case.reference_document_ids and (NDCG_10 in metrics or RECALL_10 in metrics):
            try:
                r = self.kb.retrieve(tenant, collection, case.question, 10, groups=groups)
                ranked = [c.chunk.external_id for c in r.chunks]
            except Exception as e:
                log.warning("eval retrieval for case %s failed: %s", case.id, e)
        return row, ranked


__all__ = ["LLM_METRICS", "RAGAS_NO_LLM_METRICS", "QaEvaluator", "select_metrics"]
