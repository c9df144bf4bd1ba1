"""Quality gates: parsing `metric=value` and checking them against a run (lower-is-better metrics included)."""

from __future__ import annotations

import pytest

from eval.gates import Gate, apply_gates, parse_gates
from eval.results import FAITHFULNESS, FALSE_REFUSAL_RATE, LATENCY_MS, NDCG_10, MetricSummary, RunResult


def run_with(**values: float | None) -> RunResult:
    summaries = {
        k: MetricSummary(k, v, None, None, n=0 if v is None else 5, failed=2 if v is None else 0, not_applicable=1)
        for k, v in values.items()
    }
    return RunResult("r", "s", "suite", "docs", "local", list(summaries), "2025-01-01T00:00:00Z", summaries=summaries)


class TestParseGates:
    def test_parses_metric_value_pairs(self) -> None:
        gates = parse_gates(["faithfulness=0.8", " latency_ms = 2500 ", "ndcg@10=0.6", "recall@100=0.9"])
        assert gates == [
            Gate(FAITHFULNESS, 0.8),
            Gate(LATENCY_MS, 2500.0),
            Gate(NDCG_10, 0.6),
            Gate("recall@100", 0.9),
        ]
        assert gates[0].op == ">=" and gates[1].op == "<="

    def test_unknown_metric_lists_valid_ones(self) -> None:
        with pytest.raises(ValueError, match="unknown metric 'faithfullness'") as exc:
            parse_gates(["faithfullness=0.8"])
        assert FAITHFULNESS in str(exc.value) and FALSE_REFUSAL_RATE in str(exc.value)
        for bad in ("ndcg@=0.5", "ndcg@ten=0.5", "mrr@10=0.5"):
            with pytest.raises(ValueError, match="unknown metric"):
                parse_gates([bad])

    @pytest.mark.parametrize("spec", ["faithfulness", "faithfulness=", "=0.8", "faithfulness=high", "faithfulness=nan"])
    def test_malformed_says_the_expected_form(self, spec: str) -> None:
        with pytest.raises(ValueError, match="metric=value"):
            parse_gates([spec])

    def test_empty(self) -> None:
        assert parse_gates([]) == []


class TestApplyGates:
    def test_higher_is_better(self) -> None:
        run = run_with(faithfulness=0.8)
        passed, failed = apply_gates(run, [Gate(FAITHFULNESS, 0.8), Gate(FAITHFULNESS, 0.81)])
        assert passed["passed"] and passed["op"] == ">=" and passed["value"] == 0.8  # the threshold itself passes
        assert not failed["passed"] and "fails" in failed["reason"]
        assert set(passed) == {"metric", "op", "threshold", "value", "passed", "reason"}

    def test_lower_is_better_fails_above(self) -> None:
        run = run_with(false_refusal_rate=0.1, latency_ms=1800.0)
        gates = parse_gates(["false_refusal_rate=0.05", "false_refusal_rate=0.2", "latency_ms=2000"])
        results = apply_gates(run, gates)
        assert [r["passed"] for r in results] == [False, True, True]
        assert all(r["op"] == "<=" for r in results)

    def test_missing_values_fail_with_a_reason(self) -> None:
        run = run_with(faithfulness=None)
        no_value, not_computed = apply_gates(run, [Gate(FAITHFULNESS, 0.5), Gate(NDCG_10, 0.5)])
        assert not no_value["passed"] and no_value["value"] is None and "no value" in no_value["reason"]
        assert "2 failed" in no_value["reason"]
        assert not not_computed["passed"] and "not computed" in not_computed["reason"]

    def test_run_passed_follows_the_gates(self) -> None:
        run = run_with(faithfulness=0.9)
        run.gates = apply_gates(run, parse_gates(["faithfulness=0.8"]))
        assert run.passed
        run.gates = apply_gates(run, parse_gates(["faithfulness=0.95"]))
        assert not run.passed
