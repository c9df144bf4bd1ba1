"""Rows → per-metric summaries: mean, 95% confidence interval, and the counts of rows without a value.

Rows whose metric could not be computed (judge failure, NaN, timeout) are counted in `failed`; rows the metric does
not apply to (no reference answer; answerable rows for refusal accuracy) in `not_applicable`. Neither is averaged in.

Intervals: Wilson score interval for 0/1 metrics (refusal accuracy, false refusal rate, exact match — exact even at
n = 5 or at 0 % / 100 %), a percentile bootstrap of the mean otherwise (faithfulness and friends are bounded and
skewed, so a normal interval would leave [0, 1]); the bootstrap is seeded, so a report is reproducible.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

from eval.results import CaseRow, MetricSummary
from eval.retrieval import percentile as retrieval_percentile

Z95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 2000


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean(values: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap 95% interval of the mean (seeded: the same values give the same interval)."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan)
    if n == 1 or min(values) == max(values):
        return (values[0], values[0]) if n == 1 else (min(values), max(values))
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(samples))
    return (means[int(0.025 * samples)], means[min(samples - 1, int(0.975 * samples))])


def summarise(name: str, values: Sequence[float], failed: int, not_applicable: int) -> MetricSummary:
    if not values:
        return MetricSummary(name, None, None, None, 0, failed, not_applicable)
    mean = sum(values) / len(values)
    binary = all(v in (0.0, 1.0) for v in values)
    low, high = wilson(sum(values), len(values)) if binary else bootstrap_mean(values)
    return MetricSummary(name, mean, low, high, len(values), failed, not_applicable)


def summarise_rows(rows: Sequence[CaseRow], metrics: Iterable[str]) -> dict[str, MetricSummary]:
    """One summary per metric, in the order given. A metric absent from a row counts as not applicable there."""
    out: dict[str, MetricSummary] = {}
    for m in metrics:
        values: list[float] = []
        failed = not_applicable = 0
        for r in rows:
            s = r.scores.get(m)
            if s is None:
                not_applicable += 1
            elif s.value is None or math.isnan(s.value):
                failed += 1
            else:
                values.append(float(s.value))
        out[m] = summarise(m, values, failed, not_applicable)
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by linear interpolation (eval/retrieval.py's); None, not 0, for no values."""
    return retrieval_percentile(values, q) if values else None
