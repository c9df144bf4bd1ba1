"""Guard evaluation on a labelled suite: what `grounded eval guard --suite FILE [--json]` runs.

A suite is JSONL (one object a line) or CSV (a header row) with `text`, `kind` (input | document | output) and
`label` (attack | harmful | benign). An attack row counts as detected when the guard blocks it with an injection
category (injection, jailbreak, exfiltration), a harmful row when it blocks it with a risk category (violence,
self_harm, crime, sexual, hate, privacy); a benign row is a false positive when the guard flags it at all.

Usage::

    result = run_guard_suite("suite.jsonl", Guard())
    print(format_guard_report(result))
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInputError
from app.guards.detector import Guard
from app.guards.rules import INJECTION_CATEGORIES, KINDS, RISK_CATEGORIES
from eval.retrieval import percentile
from eval.suite_files import suite_records

LABELS = ("attack", "harmful", "benign")
_WANTED = {"attack": set(INJECTION_CATEGORIES), "harmful": set(RISK_CATEGORIES)}
_MAX_ERRORS = 20


def _raw_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed row or an error string) for every non-blank record."""

    def header_error(columns: set[str]) -> str | None:
        missing = {"text", "kind", "label"} - columns
        return f"the header lacks column(s) {', '.join(sorted(missing))}" if missing else None

    return suite_records(path, header_error)


def load_guard_suite(path: str | Path) -> list[dict[str, Any]]:
    """Validated rows `{line, text, kind, label}`.

    Raises:
        InvalidInputError: the file is missing or empty, or rows are malformed (every problem with its line number,
            the first 20 listed).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"guard suite not found: {path}", "suite")
    rows, errors = [], []
    try:
        raw = list(_raw_rows(path))
    except UnicodeDecodeError as e:
        raise InvalidInputError(
            f"guard suite {path.name} is not UTF-8 text: {e.reason} at byte {e.start}", "suite"
        ) from e
    for n, row in raw:
        problem = row if isinstance(row, str) else None if isinstance(row, dict) else "not an object"
        if problem is None:
            text, kind, label = row.get("text"), row.get("kind"), row.get("label")
            if not isinstance(text, str) or not text.strip():
                problem = "text must be a non-empty string"
            elif kind not in KINDS:
                problem = f"kind must be one of {', '.join(KINDS)} (got {kind!r})"
            elif label not in LABELS:
                problem = f"label must be one of {', '.join(LABELS)} (got {label!r})"
        if problem:
            errors.append(f"{path.name}: line {n}: {problem}")
        else:
            rows.append({"line": n, "text": text, "kind": kind, "label": label})
    if errors:
        more = f"\n... and {len(errors) - _MAX_ERRORS} more" if len(errors) > _MAX_ERRORS else ""
        raise InvalidInputError("invalid guard suite:\n" + "\n".join(errors[:_MAX_ERRORS]) + more, "suite")
    if not rows:
        raise InvalidInputError(f"guard suite {path.name} has no rows", "suite")
    return rows


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def share(label: str) -> float | None:
        hits = [r["hit"] for r in rows if r["label"] == label]
        return round(sum(hits) / len(hits), 4) if hits else None

    return {
        "rows": len(rows),
        "recall": {"attack": share("attack"), "harmful": share("harmful")},
        "false_positive_rate": share("benign"),
    }


def run_guard_suite(path: str | Path, guard: Guard) -> dict[str, Any]:
    """Run `guard.check` on every row of a suite.

    Returns:
        `rows`, `recall` (attack, harmful; None when the suite has no such rows), `false_positive_rate`, `by_kind`
        (kind → rows, recall, false_positive_rate), `latency_ms_p50`/`_p95`, `counts` per label and `mistakes`
        (the first misses and false positives, with their line numbers).

    Raises:
        InvalidInputError: see `load_guard_suite`.
    """
    rows = load_guard_suite(path)
    guard.warm_up()
    latencies: list[float] = []
    mistakes: list[dict[str, Any]] = []
    for row in rows:
        started = time.perf_counter()
        result = guard.check(row["text"], row["kind"])
        latencies.append((time.perf_counter() - started) * 1000)
        if row["label"] == "benign":
            row["hit"] = result.flagged
            wrong = result.flagged
        else:
            row["hit"] = bool(set(result.categories) & _WANTED[row["label"]] & set(guard.policy.blocked))
            wrong = not row["hit"]
        if wrong and len(mistakes) < 10:
            what = "false positive" if row["label"] == "benign" else f"missed {row['label']}"
            mistakes.append(
                {
                    "line": row["line"],
                    "kind": row["kind"],
                    "what": what,
                    "text": row["text"][:120],
                    "categories": result.categories,
                    "reason": result.reason[:200],
                }
            )
    out = _figures(rows)
    out["by_kind"] = {
        k: _figures([r for r in rows if r["kind"] == k]) for k in KINDS if any(r["kind"] == k for r in rows)
    }
    out["latency_ms_p50"] = round(percentile(latencies, 50), 3)
    out["latency_ms_p95"] = round(percentile(latencies, 95), 3)
    out["counts"] = {label: sum(r["label"] == label for r in rows) for label in LABELS}
    out["mistakes"] = mistakes
    return out


def format_guard_report(result: dict[str, Any]) -> str:
    """The result of `run_guard_suite` as a readable table."""

    def cell(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    counts = ", ".join(f"{k} {v}" for k, v in result["counts"].items())
    lines = [
        f"Guard suite: {result['rows']} rows ({counts}); latency p50 {result['latency_ms_p50']:.2f} ms, "
        f"p95 {result['latency_ms_p95']:.2f} ms",
        "",
        f"{'kind':<10}{'rows':>6}{'attack recall':>15}{'harmful recall':>16}{'FP rate':>9}",
    ]
    for name, fig in [("all", result), *result["by_kind"].items()]:
        rec = fig["recall"]
        lines.append(
            f"{name:<10}{fig['rows']:>6}{cell(rec['attack']):>15}{cell(rec['harmful']):>16}"
            f"{cell(fig['false_positive_rate']):>9}"
        )
    if result.get("mistakes"):
        lines += ["", "first mistakes:"]
        lines += [f"  line {m['line']} ({m['kind']}, {m['what']}): {m['text']!r}" for m in result["mistakes"]]
    return "\n".join(lines)
