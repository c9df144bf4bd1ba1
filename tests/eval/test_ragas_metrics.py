"""no_llm_scores: Ragas' ID-based context precision/recall, string similarity and exact match on hand-made rows."""

from __future__ import annotations

from typing import Any

import pytest

from eval.ragas_metrics import no_llm_scores
from eval.results import (
    EXACT_MATCH,
    FAITHFULNESS,
    ID_CONTEXT_PRECISION,
    ID_CONTEXT_RECALL,
    NDCG_10,
    RAGAS_NO_LLM_METRICS,
    STRING_SIMILARITY,
    CaseRow,
    Score,
)


def row(answer: str = "Paris [1].", ids: list[str] | None = None, **kw: Any) -> CaseRow:
    ids = ["d1", "d2", "d3", "d1"] if ids is None else ids
    fields: dict[str, Any] = {"answer": answer, "context_document_ids": ids, "contexts": ["c"] * len(ids), **kw}
    return CaseRow("r1", "Where?", (), True, **fields)


class TestIdBased:
    def test_known_values(self) -> None:
        # retrieved {d1, d2, d3} (d1 twice counts once), reference {d1, d4}: precision 1/3, recall 1/2
        scores = no_llm_scores(row(), ["d1", "d4"], [], [ID_CONTEXT_PRECISION, ID_CONTEXT_RECALL])
        assert scores[ID_CONTEXT_PRECISION].value == pytest.approx(1 / 3)
        assert scores[ID_CONTEXT_RECALL] == Score(0.5)

    def test_all_found(self) -> None:
        scores = no_llm_scores(row(ids=["d4", "d1"]), ["d1", "d4"], [], [ID_CONTEXT_PRECISION, ID_CONTEXT_RECALL])
        assert scores == {ID_CONTEXT_PRECISION: Score(1.0), ID_CONTEXT_RECALL: Score(1.0)}

    def test_nothing_retrieved_precision_not_applicable_recall_zero(self) -> None:
        scores = no_llm_scores(row(ids=[]), ["d1"], [], [ID_CONTEXT_PRECISION, ID_CONTEXT_RECALL])
        assert scores == {ID_CONTEXT_RECALL: Score(0.0)}  # no precision of nothing: not applicable, not a failure

    def test_refused_row_still_scored(self) -> None:
        scores = no_llm_scores(row("NOT_IN_DOCUMENTS", refused=True), ["d2"], [], [ID_CONTEXT_RECALL])
        assert scores == {ID_CONTEXT_RECALL: Score(1.0)}

    def test_without_reference_ids_not_applicable(self) -> None:
        assert no_llm_scores(row(), [], ["a passage"], [ID_CONTEXT_PRECISION, ID_CONTEXT_RECALL]) == {}


class TestAnswerStrings:
    def test_exact_match_ignores_citation_markers(self) -> None:
        scores = no_llm_scores(row("Paris [1][2]", reference_answer="Paris"), [], [], [EXACT_MATCH, STRING_SIMILARITY])
        assert scores == {EXACT_MATCH: Score(1.0), STRING_SIMILARITY: Score(1.0)}

    def test_known_similarity(self) -> None:
        # Levenshtein("kitten", "sitting") = 3 over max length 7
        scores = no_llm_scores(row("kitten", reference_answer="sitting"), [], [], [EXACT_MATCH, STRING_SIMILARITY])
        assert scores[EXACT_MATCH] == Score(0.0)
        assert scores[STRING_SIMILARITY].value == pytest.approx(1 - 3 / 7)

    def test_refused_or_without_reference_not_applicable(self) -> None:
        refused = row("NOT_IN_DOCUMENTS", refused=True, reference_answer="Paris")
        assert no_llm_scores(refused, [], [], [EXACT_MATCH, STRING_SIMILARITY]) == {}
        assert no_llm_scores(row(), [], [], [EXACT_MATCH, STRING_SIMILARITY]) == {}


class TestSelection:
    def test_all_four_and_other_metrics_ignored(self) -> None:
        r = row("Paris", reference_answer="Paris")
        scores = no_llm_scores(r, ["d1"], [], [*RAGAS_NO_LLM_METRICS, FAITHFULNESS, NDCG_10])
        assert set(scores) == set(RAGAS_NO_LLM_METRICS)

    def test_unknown_metric(self) -> None:
        with pytest.raises(ValueError, match="valid: faithfulness"):
            no_llm_scores(row(), ["d1"], [], ["bleu"])

    def test_failed_row_gets_nothing(self) -> None:
        failed = row(error="generation failed", reference_answer="x")
        assert no_llm_scores(failed, ["d1"], [], RAGAS_NO_LLM_METRICS) == {}
