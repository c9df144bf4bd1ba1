"""The shapes an evaluation run passes between its stages: suite cases in, judged rows and aggregates out.

suites.py reads files into `SuiteCase`s; runner.py answers each case and fills a `CaseRow`; judge.py / metrics.py
put scores on the rows; aggregate.py turns rows into `MetricSummary`s; report.py and the API render a `RunResult`.
Everything here is plain data (JSON-ready through `to_dict`), so a stored run reads back into the same shapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Metric names. Ragas metrics keep Ragas' own names (what a QA team finds in Ragas' documentation).
FAITHFULNESS = "faithfulness"
ANSWER_RELEVANCY = "answer_relevancy"
CONTEXT_PRECISION = "context_precision"
CONTEXT_RECALL = "context_recall"
ID_CONTEXT_PRECISION = "id_based_context_precision"
ID_CONTEXT_RECALL = "id_based_context_recall"
STRING_SIMILARITY = "non_llm_string_similarity"
EXACT_MATCH = "exact_match"
LLM_METRICS = (FAITHFULNESS, ANSWER_RELEVANCY, CONTEXT_PRECISION, CONTEXT_RECALL)
RAGAS_NO_LLM_METRICS = (ID_CONTEXT_PRECISION, ID_CONTEXT_RECALL, STRING_SIMILARITY, EXACT_MATCH)
# Ours.
CITATION_PRECISION = "citation_precision"
REFUSAL_ACCURACY = "refusal_accuracy"  # answerable: false rows that were refused
FALSE_REFUSAL_RATE = "false_refusal_rate"  # answerable rows that were refused (lower is better)
NDCG_10 = "ndcg@10"
RECALL_10 = "recall@10"
LATENCY_MS = "latency_ms"
OWN_METRICS = (CITATION_PRECISION, REFUSAL_ACCURACY, FALSE_REFUSAL_RATE, NDCG_10, RECALL_10, LATENCY_MS)
ALL_METRICS = LLM_METRICS + RAGAS_NO_LLM_METRICS + OWN_METRICS
LOWER_IS_BETTER = frozenset({FALSE_REFUSAL_RATE, LATENCY_MS})


@dataclass(frozen=True)
class SuiteCase:
    """One question of a suite. `answerable` False: the documents do not hold the answer, a refusal is right."""

    id: str
    question: str
    reference_answer: str | None = None
    reference_document_ids: tuple[str, ...] = ()
    reference_contexts: tuple[str, ...] = ()
    answerable: bool = True
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("reference_document_ids", "reference_contexts", "tags"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SuiteCase:
        return cls(
            str(d["id"]),
            str(d["question"]),
            d.get("reference_answer"),
            tuple(d.get("reference_document_ids") or ()),
            tuple(d.get("reference_contexts") or ()),
            bool(d.get("answerable", True)),
            tuple(d.get("tags") or ()),
        )


@dataclass(frozen=True)
class Suite:
    """A named, content-addressed list of cases (`id` is a hash of the cases: the same file is the same suite)."""

    id: str
    name: str
    cases: tuple[SuiteCase, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "cases": [c.to_dict() for c in self.cases]}


@dataclass(frozen=True)
class Score:
    """A metric's value for one row; `value` None with an `error` when it could not be computed (judge failure,
    NaN, timeout) — such rows are counted, never averaged in as zeros."""

    value: float | None
    error: str | None = None


@dataclass
class CaseRow:
    """One answered, scored question."""

    id: str
    question: str
    tags: tuple[str, ...]
    answerable: bool
    answer: str = ""
    refused: bool = False
    reason: str | None = None
    reference_answer: str | None = None
    contexts: list[str] = field(default_factory=list)  # the passages the answer was generated from, in order
    context_document_ids: list[str] = field(default_factory=list)  # their documents' external ids, same order
    citations: list[dict[str, Any]] = field(default_factory=list)  # {n, document_id, text}
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # per-sentence verification
    support: float = 0.0
    latency_ms: float = 0.0
    scores: dict[str, Score] = field(default_factory=dict)
    error: str | None = None  # the answer itself failed (the row's metrics are then all missing)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        d["scores"] = {k: s.value for k, s in self.scores.items()}
        d["score_errors"] = {k: s.error for k, s in self.scores.items() if s.error}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseRow:
        errors = d.get("score_errors") or {}
        scores = {k: Score(v, errors.get(k)) for k, v in (d.get("scores") or {}).items()}
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k not in ("scores", "tags")}
        return cls(**known, tags=tuple(d.get("tags") or ()), scores=scores)


@dataclass(frozen=True)
class MetricSummary:
    """A metric over a run: the mean of the rows that have a value, its 95% confidence interval, and how many rows
    had none (`missing`: NaN/judge failure/not applicable are told apart in `failed`)."""

    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int  # rows with a value
    failed: int  # rows where the metric applied but could not be computed
    not_applicable: int = 0  # rows the metric does not apply to (no reference, answerable row for refusal accuracy)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    """A finished (or running) evaluation run. `aggregate` maps metric name → value (the JSON contract of
    `grounded eval qa --json`); `summaries` carry the intervals and counts behind each value."""

    run_id: str
    suite_id: str
    suite_name: str
    collection: str
    judge: str  # local | openai | none
    metrics: list[str]
    started_at: str
    finished_at: str | None = None
    wall_s: float = 0.0
    status: str = "succeeded"  # queued | running | succeeded | failed
    summaries: dict[str, MetricSummary] = field(default_factory=dict)
    rows: list[CaseRow] = field(default_factory=list)
    judge_stats: dict[str, Any] = field(default_factory=dict)  # calls, cache hits, failures, seconds
    gates: list[dict[str, Any]] = field(default_factory=list)  # {metric, op, threshold, value, passed}
    config: dict[str, Any] = field(default_factory=dict)  # generator, verifier, top_k … what produced the answers
    error: str | None = None

    @property
    def aggregate(self) -> dict[str, float | None]:
        return {k: s.value for k, s in self.summaries.items()}

    @property
    def passed(self) -> bool:
        return all(g["passed"] for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "suite_id": self.suite_id,
            "suite_name": self.suite_name,
            "collection": self.collection,
            "judge": self.judge,
            "metrics": list(self.metrics),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "wall_s": self.wall_s,
            "status": self.status,
            "aggregate": self.aggregate,
            "summaries": {k: s.to_dict() for k, s in self.summaries.items()},
            "rows": [r.to_dict() for r in self.rows],
            "judge_stats": dict(self.judge_stats),
            "gates": list(self.gates),
            "passed": self.passed,
            "config": dict(self.config),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        summaries = {k: MetricSummary(**v) for k, v in (d.get("summaries") or {}).items()}
        return cls(
            d["run_id"],
            d["suite_id"],
            d["suite_name"],
            d["collection"],
            d["judge"],
            list(d["metrics"]),
            d["started_at"],
            d.get("finished_at"),
            float(d.get("wall_s") or 0.0),
            d.get("status", "succeeded"),
            summaries,
            [CaseRow.from_dict(r) for r in d.get("rows") or []],
            dict(d.get("judge_stats") or {}),
            list(d.get("gates") or []),
            dict(d.get("config") or {}),
            d.get("error"),
        )
