"""Comparing two runs: metric deltas and significance, per-question regressions, added and removed questions."""

from __future__ import annotations

import json

import pytest

from eval.compare import compare
from eval.results import ANSWER_RELEVANCY, CONTEXT_RECALL, FAITHFULNESS, FALSE_REFUSAL_RATE, LATENCY_MS, MetricSummary
from tests.eval.test_report import make_row, make_run


def with_summaries(run, **cis: tuple[float | None, float | None, float | None]):
    run.summaries = {k: MetricSummary(k, v, lo, hi, n=10, failed=0) for k, (v, lo, hi) in cis.items()}
    return run


class TestMetricDeltas:
    def test_delta_direction_and_significance(self) -> None:
        base = with_summaries(
            make_run([], run_id="a"),
            faithfulness=(0.8, 0.75, 0.85),
            answer_relevancy=(0.70, 0.6, 0.8),
            latency_ms=(1000.0, 900.0, 1100.0),
            false_refusal_rate=(0.1, 0.05, 0.15),
            context_recall=(0.5, 0.4, 0.6),
        )
        new = with_summaries(
            make_run([], run_id="b"),
            faithfulness=(0.6, 0.55, 0.65),
            answer_relevancy=(0.72, 0.62, 0.82),
            latency_ms=(800.0, 700.0, 950.0),
            false_refusal_rate=(0.2, 0.12, 0.28),
            context_recall=(0.5, 0.4, 0.6),
            ndcg_placeholder=(None, None, None),
        )
        m = compare(base, new)["metrics"]
        assert m[FAITHFULNESS]["delta"] == pytest.approx(-0.2)
        assert m[FAITHFULNESS]["direction"] == "regressed" and m[FAITHFULNESS]["significant"]
        assert m[ANSWER_RELEVANCY]["direction"] == "improved" and not m[ANSWER_RELEVANCY]["significant"]
        assert m[LATENCY_MS]["direction"] == "improved" and m[LATENCY_MS]["delta"] == pytest.approx(-200.0)
        assert m[FALSE_REFUSAL_RATE]["direction"] == "regressed" and not m[FALSE_REFUSAL_RATE]["significant"]
        assert m[CONTEXT_RECALL]["direction"] == "unchanged" and m[CONTEXT_RECALL]["delta"] == 0.0
        only_new = m["ndcg_placeholder"]
        assert only_new == {"base": None, "new": None, "delta": None, "direction": "unchanged", "significant": False}
        assert list(m)[:4] == [FAITHFULNESS, ANSWER_RELEVANCY, CONTEXT_RECALL, FALSE_REFUSAL_RATE]


class TestRegressions:
    def runs(self):
        base_rows = [
            make_row("fell", scores={FAITHFULNESS: 0.9}),
            make_row("small", scores={FAITHFULNESS: 0.9}),
            make_row("now-refused", scores={FALSE_REFUSAL_RATE: 0.0}),
            make_row("now-answered", answerable=False, refused=True),
            make_row("slow", latency_ms=100.0),
            make_row("bit-slower", latency_ms=100.0),
            make_row("breaks"),
            make_row("better", scores={FAITHFULNESS: 0.2}),
            make_row("gone"),
        ]
        new_rows = [
            make_row("fell", scores={FAITHFULNESS: 0.5}),
            make_row("small", scores={FAITHFULNESS: 0.85}),
            make_row("now-refused", refused=True, scores={FALSE_REFUSAL_RATE: 1.0}),
            make_row("now-answered", answerable=False),
            make_row("slow", latency_ms=200.0),
            make_row("bit-slower", latency_ms=140.0),
            make_row("breaks", error="boom"),
            make_row("better", scores={FAITHFULNESS: 0.9}),
            make_row("new-one"),
        ]
        return make_run(base_rows, run_id="a"), make_run(new_rows, run_id="b")

    def test_regressed_questions_worst_first(self) -> None:
        base, new = self.runs()
        result = compare(base, new)
        regs = result["regressions"]
        assert [(r["id"], r["metric"]) for r in regs] == [
            ("now-refused", "refusal"),
            ("now-answered", "refusal"),
            ("breaks", "error"),
            ("fell", FAITHFULNESS),
            ("slow", LATENCY_MS),
        ]
        fell = regs[3]
        assert fell["base"] == 0.9 and fell["new"] == 0.5 and fell["delta"] == pytest.approx(-0.4)
        assert fell["question"] == "question fell?"
        assert regs[0]["reason"] == "answerable, now refused" and regs[0]["delta"] == -1.0
        assert regs[1]["reason"] == "not answerable, now answered"
        assert "100%" in regs[4]["reason"]
        json.dumps(result)  # JSON-ready

    def test_drop_threshold(self) -> None:
        base, new = self.runs()
        ids = {r["id"] for r in compare(base, new, drop=0.05)["regressions"]}
        assert "small" in ids
        assert "small" not in {r["id"] for r in compare(base, new, drop=0.1)["regressions"]}

    def test_added_removed_and_same_suite(self) -> None:
        base, new = self.runs()
        result = compare(base, new)
        assert result["base"] == "a" and result["new"] == "b"
        assert result["added"] == ["new-one"] and result["removed"] == ["gone"]
        assert result["same_suite"] and result["common"] == 8

    def test_different_suites_compare_common_ids(self) -> None:
        base = make_run([make_row("x", scores={FAITHFULNESS: 0.9})], suite_id="s1")
        new = make_run([make_row("x", scores={FAITHFULNESS: 0.1}), make_row("y")], suite_id="s2")
        result = compare(base, new)
        assert result["same_suite"] is False
        assert [r["id"] for r in result["regressions"]] == ["x"] and result["added"] == ["y"]

    def test_identical_runs_have_no_regressions(self) -> None:
        base, _ = self.runs()
        result = compare(base, base)
        assert result["regressions"] == [] and result["added"] == result["removed"] == []
