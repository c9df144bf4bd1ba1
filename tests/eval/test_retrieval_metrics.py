from __future__ import annotations

import math

import pytest

from app.core.errors import InvalidInputError
from eval.retrieval import dedupe_documents, evaluate, load_qrels, load_queries, mrr_at_k, ndcg_at_k, recall_at_k


def test_ndcg_matches_hand_computation() -> None:
    rels = {"a": 1, "b": 1}
    # a at rank 1, b at rank 3: DCG = 1 + 1/log2(4); IDCG = 1 + 1/log2(3)
    assert ndcg_at_k(["a", "x", "b"], rels) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["x", "y"], rels) == 0.0
    assert ndcg_at_k(["a", "b"], rels) == pytest.approx(1.0)


def test_recall_and_mrr() -> None:
    rels = {"a": 1, "b": 1, "c": 0}
    assert recall_at_k(["c", "a"], rels, 10) == 0.5
    assert mrr_at_k(["c", "x", "b"], rels) == pytest.approx(1 / 3)
    assert mrr_at_k(["x"] * 10 + ["a"], rels) == 0.0


def test_documents_count_once_at_best_rank() -> None:
    assert dedupe_documents(["d1", "d2", "d1", "d3", "d2"]) == ["d1", "d2", "d3"]


def test_evaluate_aggregates_and_reports_latency(tmp_path) -> None:
    q = tmp_path / "q.jsonl"
    q.write_text('{"_id": "1", "text": "alpha"}\n{"_id": "2", "text": "beta"}\n{"_id": "3", "text": "unjudged"}\n')
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n1\tA\t1\n2\tB\t1\n")
    ranked = {"alpha": ["A", "A", "X"], "beta": ["X", "B"]}
    out = evaluate(lambda t: ranked[t], load_queries(q), load_qrels(qrels))
    assert out["queries"] == 2
    assert out["recall@10"] == 1.0 and out["mrr@10"] == pytest.approx(0.75)
    assert set(out) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms_p50", "latency_ms_p95", "queries"}


def test_malformed_inputs_are_named(tmp_path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"_id": "1", "text": "ok"}\nnot json\n')
    with pytest.raises(InvalidInputError, match="line 2"):
        load_queries(bad)
    with pytest.raises(InvalidInputError, match="judgements"):
        evaluate(lambda t: [], {"9": "x"}, {"1": {"A": 1}})
