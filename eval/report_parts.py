"""Building blocks of the HTML report: escaping, number formats, row values, tables and inline SVG charts.

The charts are drawn in Python as inline SVG: no JavaScript, no external resource.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from eval.results import CITATION_PRECISION, FAITHFULNESS, LATENCY_MS, CaseRow, RunResult


def esc(x: object) -> str:
    """`html.escape` of `str(x)`, quotes included: the only way untrusted text enters the page."""
    return escape(str(x), quote=True)


def num(v: Any) -> float | None:
    """`v` as a finite float, else None (a missing score, NaN, a non-number from a stored run)."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def fmt_value(metric: str, v: float | None) -> str:
    """A metric value as shown: milliseconds for latency, three decimals otherwise, "–" when missing."""
    if v is None:
        return "–"
    return f"{v:.0f} ms" if metric == LATENCY_MS else f"{v:.3f}"


def fmt_threshold(v: Any) -> str:
    """A gate threshold without float noise (`3000`, `0.8`)."""
    return f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def fmt_delta(metric: str, d: float | None) -> str:
    """A signed change, in the metric's unit."""
    if d is None:
        return "–"
    return f"{d:+.0f} ms" if metric == LATENCY_MS else f"{d:+.3f}"


def row_value(row: CaseRow, metric: str) -> float | None:
    """A row's value of `metric` (latency falls back to the row's measured latency)."""
    if metric in row.scores:
        return num(row.scores[metric].value)
    if metric == LATENCY_MS and not row.error and row.latency_ms > 0:
        return row.latency_ms
    return None


def wrong_refusal(row: CaseRow) -> str | None:
    """Why the row's refusal decision was wrong ("refused although answerable", "answered although not
    answerable"), or None when it was right or the answer failed."""
    if row.error or row.refused != row.answerable:
        return None
    return "refused although answerable" if row.refused else "answered although not answerable"


def worst_rows(run: RunResult, k: int = 10) -> list[tuple[CaseRow, str]]:
    """Every wrong refusal first (the answer a user most needs to see fixed), then the `k` answered rows with the
    lowest faithfulness — or, without a judge, the lowest of support and citation precision — leaving out rows that
    scored a perfect 1.0; each with why it is listed."""
    out = [(r, why) for r in run.rows if (why := wrong_refusal(r))]
    seen = {r.id for r, _ in out}
    scored = [(v, r, FAITHFULNESS) for r in run.rows if (v := row_value(r, FAITHFULNESS)) is not None]
    if not scored:
        for r in run.rows:
            if r.error or r.refused:
                continue
            cp = row_value(r, CITATION_PRECISION)
            v, label = (cp, CITATION_PRECISION) if cp is not None and cp < r.support else (r.support, "support")
            scored.append((v, r, label))
    scored.sort(key=lambda item: item[0])
    out += [(r, f"{label} {v:.3f}") for v, r, label in scored if v < 1.0 and r.id not in seen][:k]
    return out


def table(head: list[str], rows: list[list[str]], num_from: int = 1) -> str:
    """An HTML table of cells that are already HTML (escaped by the caller); columns from `num_from` align right."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i >= num_from else ''}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f'<div class="wide"><table><tr>{th}</tr>{body}</table></div>'


# Charts: inline SVG drawn here, every label escaped (tag names are untrusted); numbers formatted by the caller.

BAR = "#4c78a8"
MEAN = "#e45756"
AXIS = "#8c959f"
FONT = 'font-family="system-ui,sans-serif" font-size="10" fill="#57606a"'


def scale_for(values: Sequence[float], unit_interval: bool) -> tuple[float, float]:
    """The axis range: [0, 1] for a score in the unit interval, else [0, max] (or [min, max] with negatives)."""
    if unit_interval and all(0.0 <= v <= 1.0 for v in values):
        return 0.0, 1.0
    if not values:
        return 0.0, 1.0
    lo, hi = min(0.0, min(values)), max(values)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def histogram(
    values: Sequence[float],
    lo: float,
    hi: float,
    fmt: Callable[[float], str],
    bins: int = 10,
    width: int = 300,
    height: int = 130,
) -> str:
    """A histogram of `values` over [lo, hi] with a dashed line at the mean; each bar's tooltip gives its count."""
    left, right, top, bottom = 30, 10, 12, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    aria = f'role="img" aria-label="histogram of {len(values)} values"'
    head = f'<svg width="{width}" height="{height}" {aria}>'
    if not values:
        return f'{head}<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {FONT}>no values</text></svg>'
    counts = [0] * bins
    span = hi - lo
    for v in values:
        i = int((v - lo) / span * bins) if span > 0 else 0
        counts[min(max(i, 0), bins - 1)] += 1
    peak = max(counts)
    bar_w = plot_w / bins
    parts = [head]
    for i, c in enumerate(counts):
        h = plot_h * c / peak if peak else 0
        x, y = left + i * bar_w, top + plot_h - h
        a, b = lo + span * i / bins, lo + span * (i + 1) / bins
        label = f"{fmt(a)} – {fmt(b)}: {c} row{'s' if c != 1 else ''}"
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{BAR}">'
            f"<title>{esc(label)}</title></rect>"
        )
    base_y = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base_y}" x2="{left + plot_w}" y2="{base_y}" stroke="{AXIS}"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" {FONT}>{peak}</text>')
    parts.append(f'<text x="{left - 4}" y="{base_y}" text-anchor="end" {FONT}>0</text>')
    for x, v, anchor in ((left, lo, "start"), (left + plot_w / 2, (lo + hi) / 2, "middle"), (left + plot_w, hi, "end")):
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}" {FONT}>{esc(fmt(v))}</text>')
    mean = sum(values) / len(values)
    mx = left + plot_w * ((mean - lo) / span if span > 0 else 0)
    parts.append(
        f'<line x1="{mx:.1f}" y1="{top - 4}" x2="{mx:.1f}" y2="{base_y}" stroke="{MEAN}" stroke-dasharray="3,2">'
        f"<title>mean {esc(fmt(mean))}</title></line>"
    )
    parts.append("</svg>")
    return "".join(parts)


def hbars(
    items: Sequence[tuple[str, float | None, int]],
    hi: float,
    fmt: Callable[[float], str],
    width: int = 320,
    label_w: int = 110,
) -> str:
    """Horizontal bars, one per `(label, value, n)`, on [0, hi]; a None value draws no bar and says "–"."""
    row_h, top = 18, 4
    height = top * 2 + row_h * len(items)
    bar_area = width - label_w - 56
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for i, (label, value, n) in enumerate(items):
        y = top + i * row_h
        short = label if len(label) <= 18 else label[:17] + "…"
        title = f"<title>{esc(label)}</title>"
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" {FONT}>{title}{esc(short)}</text>')
        shown = "–" if value is None else fmt(value)
        if value is not None and hi > 0:
            w = max(bar_area * min(max(value, 0.0), hi) / hi, 1.0)
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{BAR}">'
                f"<title>{esc(label)}: {esc(shown)} (n={n})</title></rect>"
            )
        parts.append(f'<text x="{label_w + bar_area + 4}" y="{y + 12}" {FONT}>{esc(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def ci_bar(value: float | None, low: float | None, high: float | None, width: int = 120) -> str:
    """A value with its 95% interval on a [0, 1] axis (empty when unknown)."""
    if value is None:
        return ""
    height, pad = 14, 4
    span = width - 2 * pad

    def x(v: float) -> float:
        return pad + span * min(max(v, 0.0), 1.0)

    parts = [f'<svg width="{width}" height="{height}" role="img">']
    parts.append(f'<line x1="{pad}" y1="7" x2="{width - pad}" y2="7" stroke="#d0d7de"/>')
    if low is not None and high is not None:
        parts.append(f'<line x1="{x(low):.1f}" y1="7" x2="{x(high):.1f}" y2="7" stroke="{BAR}" stroke-width="4"/>')
    parts.append(f'<circle cx="{x(value):.1f}" cy="7" r="3.5" fill="{MEAN}"/></svg>')
    return "".join(parts)
