"""Summaries: means, 95% intervals and the counting of rows without a value."""

from __future__ import annotations

import math

import pytest

from eval.aggregate import bootstrap_mean, percentile, summarise_rows, wilson
from eval.results import CaseRow, Score


def row(i: int, **scores: Score) -> CaseRow:
    return CaseRow(f"q{i}", f"question {i}", (), True, scores=dict(scores))


class TestWilson:
    def test_known_value(self) -> None:
        low, high = wilson(8, 10)
        assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)

    def test_extremes_stay_inside_zero_one(self) -> None:
        assert wilson(0, 5)[0] == 0.0 and 0 < wilson(0, 5)[1] < 0.6
        assert wilson(5, 5)[1] == 1.0 and 0.4 < wilson(5, 5)[0] < 1

    def test_no_rows(self) -> None:
        assert all(math.isnan(v) for v in wilson(0, 0))


class TestBootstrap:
    def test_interval_contains_the_mean_and_is_reproducible(self) -> None:
        values = [0.1, 0.5, 0.9, 0.7, 0.3, 1.0, 0.0, 0.6]
        low, high = bootstrap_mean(values)
        assert low < sum(values) / len(values) < high
        assert bootstrap_mean(values) == (low, high)

    def test_constant_values(self) -> None:
        assert bootstrap_mean([0.5, 0.5, 0.5]) == (0.5, 0.5)


class TestSummariseRows:
    def test_failures_and_not_applicable_are_counted_not_averaged(self) -> None:
        rows = [
            row(1, faithfulness=Score(1.0)),
            row(2, faithfulness=Score(0.5)),
            row(3, faithfulness=Score(None, "judge_failed: unparseable")),
            row(4, faithfulness=Score(float("nan"))),
            row(5),
        ]
        s = summarise_rows(rows, ["faithfulness"])["faithfulness"]
        assert s.value == pytest.approx(0.75)  # never (1 + 0.5 + 0 + 0) / 4
        assert (s.n, s.failed, s.not_applicable) == (2, 2, 1)
        assert s.ci_low is not None and s.ci_low <= 0.75 <= s.ci_high

    def test_binary_metric_uses_wilson(self) -> None:
        rows = [row(i, exact_match=Score(float(i % 2))) for i in range(10)]
        s = summarise_rows(rows, ["exact_match"])["exact_match"]
        assert (s.ci_low, s.ci_high) == pytest.approx(wilson(5, 10))

    def test_metric_without_any_value(self) -> None:
        s = summarise_rows([row(1, faithfulness=Score(None, "timeout"))], ["faithfulness"])["faithfulness"]
        assert s.value is None and s.failed == 1 and s.ci_low is None


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
