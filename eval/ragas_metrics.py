"""Ragas metrics that need no LLM, on one evaluated row and its suite case's references.

Ragas' own implementations, run offline and without a judge:

* `id_based_context_precision` / `id_based_context_recall` — Ragas' `IDBasedContextPrecision` /
  `IDBasedContextRecall` over the documents the answer was generated from (`row.context_document_ids`, as a set)
  against the case's `reference_document_ids`; only when the case has reference ids. Precision is NaN (reported as
  `Score(None, "nan")`) when nothing was retrieved.
* `non_llm_string_similarity` (Ragas' `NonLLMStringSimilarity`, 1 − normalised Levenshtein distance) and
  `exact_match` (`ExactMatch`) between the answer, without its [n] citation markers, and the reference answer;
  only when the case has a reference answer and the row was answered (a refusal has no answer to compare).

The ID-based metrics exist only in Ragas' legacy `ragas.metrics` (0.4.3 warns that importing them from there is
deprecated and points at `ragas.metrics.collections`, which does not have them); they are scored through their async
`single_turn_ascore`. All of a row's metrics run in one event loop.

Usage::

    scores = no_llm_scores(row, case.reference_document_ids, case.reference_contexts, RAGAS_NO_LLM_METRICS)
    row.scores.update(scores)
"""

from __future__ import annotations

import asyncio
import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any

from app.answer.citations import strip_citations
from eval.results import (
    ALL_METRICS,
    EXACT_MATCH,
    ID_CONTEXT_PRECISION,
    ID_CONTEXT_RECALL,
    RAGAS_NO_LLM_METRICS,
    STRING_SIMILARITY,
    CaseRow,
    Score,
)


@functools.cache
def _metrics() -> dict[str, Any]:
    """Ragas' metric objects, built once (importing Ragas takes seconds: only when first needed)."""
    from eval.ragas_llm import ragas_environment

    ragas_environment()
    from ragas.metrics.collections import ExactMatch, NonLLMStringSimilarity

    with warnings.catch_warnings():  # the deprecation points at a module that lacks these classes (see module doc)
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import IDBasedContextPrecision, IDBasedContextRecall

    return {
        ID_CONTEXT_PRECISION: IDBasedContextPrecision(),
        ID_CONTEXT_RECALL: IDBasedContextRecall(),
        STRING_SIMILARITY: NonLLMStringSimilarity(),
        EXACT_MATCH: ExactMatch(),
    }


def _value(value: Any) -> Score:
    if not isinstance(value, int | float) or math.isnan(value):
        return Score(None, "nan")
    return Score(float(value))


async def _score(todo: list[str], row: CaseRow, reference_ids: list[str | int]) -> dict[str, Score]:
    from ragas.dataset_schema import SingleTurnSample

    metrics = _metrics()
    out: dict[str, Score] = {}
    for name in todo:
        metric = metrics[name]
        try:
            if name in (ID_CONTEXT_PRECISION, ID_CONTEXT_RECALL):
                sample = SingleTurnSample(
                    retrieved_context_ids=list[str | int](row.context_document_ids), reference_context_ids=reference_ids
                )
                value = await metric.single_turn_ascore(sample)
            else:
                response = strip_citations(row.answer)
                result = await metric.ascore(reference=(row.reference_answer or "").strip(), response=response)
                value = result.value
        except Exception as e:  # noqa: BLE001 - a metric fault is that row's missing value, not the run's end
            out[name] = Score(None, f"metric_failed: {type(e).__name__}: {e}"[:300])
            continue
        out[name] = _value(value)
    return out


def no_llm_scores(
    row: CaseRow,
    reference_document_ids: Sequence[str],
    reference_contexts: Sequence[str],
    metrics: Sequence[str],
) -> dict[str, Score]:
    """The applicable no-LLM Ragas metrics of `metrics` for `row` (see the module doc); others are left out.

    Args:
        row: an answered row (a row with `error` gets no scores).
        reference_document_ids: the documents that hold the answer (the suite case's).
        reference_contexts: the passages that hold the answer; none of the four metrics uses them (Ragas' text-based
            `NonLLMContextPrecisionWithReference` / `NonLLMContextRecall` would), accepted so callers pass the case.
        metrics: metric names; names of other metrics (LLM, ours) are ignored.

    Raises:
        ValueError: a name that is no metric at all (the valid ones listed).
    """
    del reference_contexts  # see Args
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; valid: {', '.join(ALL_METRICS)}")
    wanted = [m for m in dict.fromkeys(metrics) if m in RAGAS_NO_LLM_METRICS]
    if row.error is not None or not wanted:
        return {}
    reference_ids: list[str | int] = [str(i) for i in reference_document_ids]
    has_answer = bool(row.reference_answer and row.reference_answer.strip()) and not row.refused
    todo = [
        m
        for m in wanted
        # Precision of nothing is undefined (Ragas: NaN): a refusal before any passage was chosen is "not
        # applicable" there, while its recall is a real 0 — none of the reference documents reached the answer.
        if (m == ID_CONTEXT_RECALL and reference_ids)
        or (m == ID_CONTEXT_PRECISION and reference_ids and row.context_document_ids)
        or (m in (STRING_SIMILARITY, EXACT_MATCH) and has_answer)
    ]
    if not todo:
        return {}
    return asyncio.run(_score(todo, row, reference_ids))
