"""Compare two evaluation runs: per-metric deltas with significance, and the questions that got worse.

What `GET /v1/eval/runs/{a}/compare/{b}` and the HTML report's baseline section show. Rows are matched by their
suite case id, so runs of two versions of a suite still compare on the questions they share.
"""

from __future__ import annotations

import math
from typing import Any

from eval.results import (
    ALL_METRICS,
    FALSE_REFUSAL_RATE,
    LATENCY_MS,
    LOWER_IS_BETTER,
    REFUSAL_ACCURACY,
    CaseRow,
    MetricSummary,
    RunResult,
)

REFUSAL = "refusal"  # the pseudo-metric of a row whose refusal decision became wrong
ERROR = "error"  # the pseudo-metric of a row that answered in the base run and failed in the new one
LATENCY_RISE = 0.5  # a row's latency regresses when it rose by half or more
_EPS = 1e-12
# A wrong refusal is what a user sees first; then failed answers, then quality drops, then slower answers.
_RANK = {REFUSAL: 0, ERROR: 1, LATENCY_MS: 3}


def compare(base: RunResult, new: RunResult, drop: float = 0.1) -> dict[str, Any]:
    """Compare `new` with the baseline `base`.

    Args:
        base: the baseline run.
        new: the run under review.
        drop: per-question threshold: a higher-is-better score that fell by `drop` or more (a lower-is-better one that
            rose by `drop` or more) is a regression. Latency is relative: a rise of `LATENCY_RISE` (50%) or more.

    Returns:
        A JSON-ready dict::

            {"base": run_id, "new": run_id, "same_suite": bool, "common": int,
             "metrics": {name: {"base", "new", "delta", "direction": "improved"|"regressed"|"unchanged",
                                "significant": bool}},
             "regressions": [{"id", "question", "metric", "base", "new", "delta", "reason"}, ...],
             "added": [ids only in new], "removed": [ids only in base]}

        `significant` is True when the two 95% confidence intervals do not overlap. `delta` is `new - base` (None when
        either value is missing). Regressions are sorted worst first: wrong refusals (metric "refusal", base 1.0 =
        right, new 0.0 = wrong), then rows that now fail with an error (metric "error"), then score drops by size,
        then latency by relative rise.
    """
    names = _ordered(set(base.summaries) | set(new.summaries))
    metrics = {name: _metric_delta(name, base.summaries.get(name), new.summaries.get(name)) for name in names}
    base_rows = {r.id: r for r in base.rows}
    new_rows = {r.id: r for r in new.rows}
    common = [i for i in new_rows if i in base_rows]
    scored: list[tuple[tuple[int, float], dict[str, Any]]] = []
    for row_id in common:
        scored.extend(_row_regressions(base_rows[row_id], new_rows[row_id], drop))
    scored.sort(key=lambda item: item[0])
    return {
        "base": base.run_id,
        "new": new.run_id,
        "same_suite": base.suite_id == new.suite_id,
        "common": len(common),
        "metrics": metrics,
        "regressions": [entry for _, entry in scored],
        "added": [i for i in new_rows if i not in base_rows],
        "removed": [i for i in base_rows if i not in new_rows],
    }


def _ordered(names: set[str]) -> list[str]:
    known = [m for m in ALL_METRICS if m in names]
    return known + sorted(names - set(known))


def _metric_delta(name: str, base: MetricSummary | None, new: MetricSummary | None) -> dict[str, Any]:
    b = _finite(base.value) if base else None
    n = _finite(new.value) if new else None
    delta = n - b if b is not None and n is not None else None
    if delta is None or abs(delta) < _EPS:
        direction = "unchanged"
    else:
        better = delta < 0 if name in LOWER_IS_BETTER else delta > 0
        direction = "improved" if better else "regressed"
    return {"base": b, "new": n, "delta": delta, "direction": direction, "significant": _disjoint(base, new)}


def _disjoint(a: MetricSummary | None, b: MetricSummary | None) -> bool:
    """The two 95% intervals do not overlap (False when either interval is unknown)."""
    if a is None or b is None:
        return False
    a_low, a_high, b_low, b_high = (_finite(x) for x in (a.ci_low, a.ci_high, b.ci_low, b.ci_high))
    if a_low is None or a_high is None or b_low is None or b_high is None:
        return False
    return a_high < b_low or b_high < a_low


def _finite(x: float | None) -> float | None:
    """`x` when it is a finite number, else None (NaN is "not computed", never a value to subtract)."""
    return x if x is not None and math.isfinite(x) else None


def _refusal_right(row: CaseRow) -> bool:
    return row.refused != row.answerable


def _row_regressions(base: CaseRow, new: CaseRow, drop: float) -> list[tuple[tuple[int, float], dict[str, Any]]]:
    """A row's regressions, each with its sort key (rank, -severity)."""

    def entry(metric: str, b: float | None, n: float | None, reason: str) -> dict[str, Any]:
        delta = n - b if b is not None and n is not None else None
        return {
            "id": new.id,
            "question": new.question,
            "metric": metric,
            "base": b,
            "new": n,
            "delta": delta,
            "reason": reason,
        }

    out: list[tuple[tuple[int, float], dict[str, Any]]] = []
    if new.error and not base.error:
        out.append(((_RANK[ERROR], 0.0), entry(ERROR, None, None, f"the answer failed: {new.error}")))
        return out  # its scores are all missing: nothing else to compare
    flipped = False
    if not base.error and not new.error and _refusal_right(base) and not _refusal_right(new):
        flipped = True
        why = "answerable, now refused" if new.answerable else "not answerable, now answered"
        out.append(((_RANK[REFUSAL], -1.0), entry(REFUSAL, 1.0, 0.0, why)))
    for metric in _ordered(set(base.scores) | set(new.scores)):
        if flipped and metric in (REFUSAL_ACCURACY, FALSE_REFUSAL_RATE):
            continue  # already told as the refusal flip
        b = _finite(base.scores[metric].value) if metric in base.scores else None
        n = _finite(new.scores[metric].value) if metric in new.scores else None
        if b is None or n is None:
            continue
        found = _score_regression(metric, b, n, drop)
        if found:
            severity, reason = found
            out.append(((_RANK.get(metric, 2), -severity), entry(metric, b, n, reason)))
    if LATENCY_MS not in base.scores and LATENCY_MS not in new.scores:
        found = _score_regression(LATENCY_MS, base.latency_ms, new.latency_ms, drop)
        if found:
            severity, reason = found
            out.append(((_RANK[LATENCY_MS], -severity), entry(LATENCY_MS, base.latency_ms, new.latency_ms, reason)))
    return out


def _score_regression(metric: str, b: float, n: float, drop: float) -> tuple[float, str] | None:
    """(severity, reason) when the change from `b` to `n` is a regression, else None."""
    if metric == LATENCY_MS:
        if b <= 0 or n <= 0:
            return None  # no measurement (e.g. a failed answer)
        rise = n / b - 1
        return (rise, f"latency rose {rise:.0%}: {b:.0f} ms → {n:.0f} ms") if rise >= LATENCY_RISE - _EPS else None
    change = n - b if metric in LOWER_IS_BETTER else b - n
    if change >= drop - _EPS:
        verb = "rose" if metric in LOWER_IS_BETTER else "fell"
        return change, f"{metric} {verb} by {change:.2f}: {b:.2f} → {n:.2f}"
    return None
