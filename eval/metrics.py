"""Our own per-row metrics: citation precision, refusal accuracy, false refusal, retrieval nDCG@10/recall@10, latency.

- citation precision: of the (sentence, cited passage) pairs of an answer, the share whose passage supports the
  sentence, judged again by the evaluation's verifier (the fast verifier by default) on the passage alone — not
  read back from the answer's own verdicts, so a repaired answer is checked, not trusted.
- refusal accuracy: rows marked `answerable: false`, 1 when the answer was a refusal.
- false refusal rate: answerable rows, 1 when the answer was a refusal (lower is better).
- nDCG@10 / recall@10: when the row names reference documents, over the ranking of a top-10 retrieval for the same
  question (documents ranked by their best chunk).
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.ports import Verifier
from eval.results import (
    CITATION_PRECISION,
    FALSE_REFUSAL_RATE,
    LATENCY_MS,
    NDCG_10,
    RECALL_10,
    REFUSAL_ACCURACY,
    CaseRow,
    Score,
    SuiteCase,
)
from eval.retrieval import dedupe_documents, ndcg_at_k


def refusal_scores(case: SuiteCase, row: CaseRow) -> dict[str, Score]:
    if row.error:
        return {}
    if case.answerable:
        return {FALSE_REFUSAL_RATE: Score(1.0 if row.refused else 0.0)}
    return {REFUSAL_ACCURACY: Score(1.0 if row.refused else 0.0)}


def retrieval_scores(case: SuiteCase, ranked_external_ids: Sequence[str] | None) -> dict[str, Score]:
    if not case.reference_document_ids or ranked_external_ids is None:
        return {}
    ranked = dedupe_documents(ranked_external_ids)
    rels = dict.fromkeys(case.reference_document_ids, 1)
    found = len(set(ranked[:10]) & set(rels))
    return {NDCG_10: Score(ndcg_at_k(ranked, rels, 10)), RECALL_10: Score(found / len(rels))}


def citation_precision(row: CaseRow, verifier: Verifier) -> Score | None:
    """Share of citation pairs whose passage supports the sentence; None when the answer cites nothing."""
    if row.refused or row.error:
        return None
    pairs: list[tuple[str, str]] = []
    for v in row.verdicts:
        if not v.get("kept", True):
            continue
        for n in v.get("citations") or ():
            if 1 <= n <= len(row.contexts):
                pairs.append((v["sentence"], row.contexts[n - 1]))
    if not pairs:
        return None
    try:
        results = verifier.support(row.question, pairs)
    except Exception as e:  # a verifier fault is reported on the row, never scored as 0
        return Score(None, f"verifier_failed: {type(e).__name__}: {e}")
    return Score(sum(1.0 for s in results if s.supported) / len(pairs))


def own_scores(
    case: SuiteCase, row: CaseRow, verifier: Verifier | None, ranked_external_ids: Sequence[str] | None
) -> dict[str, Score]:
    """Every own metric that applies to this row (an absent key = not applicable)."""
    out = refusal_scores(case, row)
    out.update(retrieval_scores(case, ranked_external_ids))
    if verifier is not None:
        cp = citation_precision(row, verifier)
        if cp is not None:
            out[CITATION_PRECISION] = cp
    if not row.error:
        out[LATENCY_MS] = Score(row.latency_ms)
    return out
