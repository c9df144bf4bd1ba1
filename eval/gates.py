"""Quality gates: `--fail-under metric=value` checks on a run's aggregates, so a CI job can fail on a regression.

A gate names a metric and a threshold. Most metrics are better when higher: the gate fails when the run's value is
below the threshold. For the metrics in `LOWER_IS_BETTER` (false refusal rate, latency) the gate fails when the value
is above it. A metric the run did not compute (no summary, or no row with a value) fails the gate: a gate that
cannot be checked must not pass silently.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from eval.results import ALL_METRICS, LOWER_IS_BETTER, RunResult

# `ndcg@10` and `recall@10` stand for families: any cutoff (`ndcg@5`, `recall@100`) is a valid gate name.
_AT_K_PREFIXES = tuple(sorted({m.split("@", 1)[0] + "@" for m in ALL_METRICS if "@" in m}))
_FORM = "expected metric=value, e.g. faithfulness=0.8"


@dataclass(frozen=True)
class Gate:
    """`metric` must reach `threshold` (at least, or at most for a lower-is-better metric)."""

    metric: str
    threshold: float

    @property
    def op(self) -> str:
        """`<=` for a lower-is-better metric, else `>=`: what the value must satisfy to pass."""
        return "<=" if self.metric in LOWER_IS_BETTER else ">="


def is_known_metric(name: str) -> bool:
    """A metric of `ALL_METRICS`, or a known `@k` family with another cutoff (`ndcg@5`)."""
    if name in ALL_METRICS:
        return True
    return any(name.startswith(p) and re.fullmatch(r"\d+", name[len(p) :]) for p in _AT_K_PREFIXES)


def parse_gates(specs: list[str]) -> list[Gate]:
    """Parse `metric=value` strings (the `--fail-under` arguments) into gates, in order.

    Args:
        specs: strings like `faithfulness=0.8`, `false_refusal_rate=0.05`, `ndcg@10=0.6`.

    Returns:
        One `Gate` per spec.

    Raises:
        ValueError: a spec is not `metric=value` with a finite number, or names an unknown metric (the message lists
            the valid names).
    """
    gates = []
    for spec in specs:
        metric, sep, raw = spec.partition("=")
        metric, raw = metric.strip(), raw.strip()
        if not sep or not metric or not raw:
            raise ValueError(f"invalid gate {spec!r}: {_FORM}")
        try:
            threshold = float(raw)
        except ValueError:
            raise ValueError(f"invalid gate {spec!r}: {raw!r} is not a number; {_FORM}") from None
        if not math.isfinite(threshold):
            raise ValueError(f"invalid gate {spec!r}: the threshold must be a finite number; {_FORM}")
        if not is_known_metric(metric):
            valid = ", ".join(ALL_METRICS)
            raise ValueError(
                f"unknown metric {metric!r} in gate {spec!r}; valid metrics: {valid} (or ndcg@k, recall@k)"
            )
        gates.append(Gate(metric, threshold))
    return gates


def apply_gates(run: RunResult, gates: list[Gate]) -> list[dict[str, Any]]:
    """Check each gate against the run's aggregate values.

    A higher-is-better metric passes when `value >= threshold`; a metric in `LOWER_IS_BETTER` (false refusal rate,
    latency) passes when `value <= threshold`. A metric whose value is None — not computed in this run, or no row had
    a value — fails, with a reason that says so. The run is not changed: the caller stores the result in `run.gates`.

    Args:
        run: the finished run; its `summaries` hold the values.
        gates: from `parse_gates`.

    Returns:
        One dict per gate: `{metric, op, threshold, value, passed, reason}`.
    """
    out = []
    for gate in gates:
        summary = run.summaries.get(gate.metric)
        value = summary.value if summary else None
        if value is None:
            passed = False
            if summary is None:
                reason = f"{gate.metric} was not computed in this run"
            else:
                reason = (
                    f"{gate.metric} has no value: no row could be scored "
                    f"({summary.failed} failed, {summary.not_applicable} not applicable)"
                )
        else:
            passed = value <= gate.threshold if gate.op == "<=" else value >= gate.threshold
            verdict = "passes" if passed else "fails"
            reason = f"{gate.metric} = {value:.4g} {verdict} {gate.op} {gate.threshold:g}"
        out.append(
            {
                "metric": gate.metric,
                "op": gate.op,
                "threshold": gate.threshold,
                "value": value,
                "passed": passed,
                "reason": reason,
            }
        )
    return out
