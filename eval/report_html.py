"""The HTML report: one self-contained file (inline CSS, inline SVG, no JavaScript, no external resource).

Everything that comes from rows — questions, answers, passages, citations, verdicts, tags, reasons, ids — is
customer or model text and may hold markup: it goes through `html.escape` (`esc`) on its way into the page, and a
Content-Security-Policy that forbids scripts and remote loads is a second line of defence.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from eval.compare import compare
from eval.report_parts import (
    ci_bar,
    esc,
    fmt_delta,
    fmt_threshold,
    fmt_value,
    hbars,
    histogram,
    num,
    row_value,
    scale_for,
    table,
    worst_rows,
)
from eval.results import LATENCY_MS, LOWER_IS_BETTER, CaseRow, RunResult

PASSAGE_CHARS = 3000  # a longer passage is cut (the JSON report keeps it whole)
MAX_REGRESSIONS = 100
_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1120px;margin:0 auto;padding:24px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:16px 0}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 12px}h3{font-size:14px;margin:0 0 6px}
table{border-collapse:collapse;margin:6px 0}th,td{padding:4px 10px;border-bottom:1px solid #eaeef2;text-align:left;
vertical-align:top}th{background:#f6f8fa;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.wide{overflow-x:auto}.facts td:first-child{color:#57606a;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;margin-right:4px}
.pass{background:#dafbe1;color:#1a7f37}.fail{background:#ffebe9;color:#cf222e}.info{background:#ddf4ff;color:#0969da}
.good{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
.grid{display:flex;flex-wrap:wrap;gap:16px}.chart h3{font-weight:600}
.row{border:1px solid #d0d7de;border-radius:6px;padding:12px;margin:12px 0}
.text{white-space:pre-wrap;background:#f6f8fa;border-radius:4px;padding:6px 8px;margin:4px 0;overflow-wrap:anywhere}
.passage{white-space:pre-wrap;font-size:13px;overflow-wrap:anywhere}.error{background:#ffebe9;padding:8px;border-radius:4px}
nav a{margin-right:12px}summary{cursor:pointer;color:#0969da}
"""


def _metrics(run: RunResult) -> list[str]:
    return list(dict.fromkeys([*run.metrics, *run.summaries]))


_SECTIONS = [
    ("aggregates", "Aggregates"),
    ("distributions", "Distributions"),
    ("tags", "Per tag"),
    ("worst", "Worst questions"),
]


def _header(run: RunResult, with_baseline: bool) -> str:
    failed = [g for g in run.gates if not g.get("passed")]
    if not run.gates:
        verdict = '<span class="badge info">no gates</span>'
    elif failed:
        verdict = f'<span class="badge fail">FAILED: {len(failed)} of {len(run.gates)} gates</span>'
    else:
        verdict = f'<span class="badge pass">PASSED: {len(run.gates)} gates</span>'
    refused = sum(1 for r in run.rows if r.refused and not r.error)
    errors = sum(1 for r in run.rows if r.error)
    facts = [
        ("suite", f"{esc(run.suite_name)} <span class=muted>({esc(run.suite_id[:16])})</span>"),
        ("collection", esc(run.collection)),
        ("judge", esc(run.judge)),
        ("started", esc(run.started_at)),
        ("finished", esc(run.finished_at or "–")),
        ("wall time", f"{run.wall_s:.1f} s"),
        (
            "questions",
            f"{len(run.rows)} ({len(run.rows) - refused - errors} answered, {refused} refused, {errors} failed)",
        ),
        ("judge stats", esc(", ".join(f"{k}: {v}" for k, v in run.judge_stats.items()) or "–")),
        ("configuration", esc(", ".join(f"{k}: {v}" for k, v in run.config.items()) or "–")),
        ("gates", f"{len(run.gates) - len(failed)} passed, {len(failed)} failed"),
    ]
    rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in facts)
    error = f'<p class="error">run error: {esc(run.error)}</p>' if run.error else ""
    links = _SECTIONS + ([("comparison", "Baseline")] if with_baseline else [])
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in links)
    return (
        f"<section><h1>Evaluation report: {esc(run.suite_name)}</h1>"
        f'<p class="muted">run {esc(run.run_id)} · status {esc(run.status)} · {verdict}</p>'
        f'{error}<table class="facts">{rows}</table><nav>{nav}</nav></section>'
    )


def _gates(run: RunResult) -> str:
    if not run.gates:
        return ""
    rows = [
        [
            esc(g.get("metric")),
            esc(f"{g.get('op', '>=')} {fmt_threshold(g.get('threshold'))}"),
            fmt_value(str(g.get("metric")), num(g.get("value"))),
            '<span class="badge pass">pass</span>' if g.get("passed") else '<span class="badge fail">fail</span>',
            esc(g.get("reason", "")),
        ]
        for g in run.gates
    ]
    return "<section><h2>Gates</h2>" + table(["metric", "gate", "value", "result", "reason"], rows, 9) + "</section>"


def _aggregates(run: RunResult) -> str:
    rows = []
    for name in _metrics(run):
        s = run.summaries.get(name)
        if s is None:
            rows.append([esc(name), "–", "not computed", "", "–", "–", "–"])
            continue
        lo, hi = num(s.ci_low), num(s.ci_high)
        ci = f"{fmt_value(name, lo)} – {fmt_value(name, hi)}" if lo is not None and hi is not None else "–"
        bar = "" if name == LATENCY_MS else ci_bar(num(s.value), lo, hi)
        note = ' <span class="muted">(lower is better)</span>' if name in LOWER_IS_BETTER else ""
        value = fmt_value(name, num(s.value))
        rows.append([esc(name) + note, value, ci, bar, str(s.n), str(s.failed), str(s.not_applicable)])
    head = ["metric", "value", "95% CI", "", "n", "failed", "not applicable"]
    return '<section id="aggregates"><h2>Aggregates</h2>' + table(head, rows) + "</section>"


def _distributions(run: RunResult) -> str:
    charts = []
    for name in _metrics(run):
        values = [v for r in run.rows if (v := row_value(r, name)) is not None]
        lo, hi = scale_for(values, unit_interval=name != LATENCY_MS)
        axis = (lambda v: f"{v:.0f}") if name == LATENCY_MS else (lambda v: f"{v:.2f}")
        chart = histogram(values, lo, hi, axis)
        charts.append(f'<div class="chart"><h3>{esc(name)} <span class=muted>n={len(values)}</span></h3>{chart}</div>')
    return '<section id="distributions"><h2>Distributions</h2><div class="grid">' + "".join(charts) + "</div></section>"


def _tags(run: RunResult) -> str:
    groups: dict[str, list[CaseRow]] = {}
    for r in run.rows:
        for t in r.tags or ("(untagged)",):
            groups.setdefault(t, []).append(r)
    names = [m for m in _metrics(run) if any(row_value(r, m) is not None for r in run.rows)]
    if not groups or not names:
        return '<section id="tags"><h2>Per tag</h2><p class="muted">no tagged values</p></section>'
    means: dict[str, dict[str, tuple[float | None, int]]] = {}
    for tag, rows in sorted(groups.items()):
        means[tag] = {}
        for m in names:
            vals = [v for r in rows if (v := row_value(r, m)) is not None]
            means[tag][m] = (sum(vals) / len(vals) if vals else None, len(vals))
    cells = [[esc(t), str(len(groups[t]))] + [fmt_value(m, means[t][m][0]) for m in names] for t in means]
    charts = []
    for m in names:
        items = [(t, means[t][m][0], means[t][m][1]) for t in means]
        hi = 1.0 if m != LATENCY_MS else max((v for _, v, _ in items if v is not None), default=1.0)
        chart = hbars(items, hi, partial(fmt_value, m))
        charts.append(f'<div class="chart"><h3>{esc(m)}</h3>{chart}</div>')
    return (
        '<section id="tags"><h2>Per tag (mean)</h2>'
        + table(["tag", "questions"] + [esc(m) for m in names], cells)
        + '<div class="grid">'
        + "".join(charts)
        + "</div></section>"
    )


def _verdicts(row: CaseRow) -> str:
    if not row.verdicts:
        return ""
    rows = []
    for v in row.verdicts:
        ok = v.get("supported")
        mark = '<span class="good">✓ supported</span>' if ok else '<span class="bad">✗ unsupported</span>'
        cites = "".join(f"[{esc(n)}]" for n in v.get("citations") or [])
        if v.get("corrected"):
            cites += " <span class=muted>was " + "".join(f"[{esc(n)}]" for n in v.get("cited") or []) + "</span>"
        note = esc(v.get("reason") or "") + ("" if v.get("kept", True) else " <span class=bad>removed</span>")
        score = num(v.get("score"))
        rows.append([esc(v.get("sentence", "")), mark, "–" if score is None else f"{score:.2f}", cites, note])
    return "<h3>Verdicts</h3>" + table(["sentence", "verdict", "score", "cites", "note"], rows, 2)


def _evidence(row: CaseRow) -> str:
    cites = "".join(
        f"<li>[{esc(c.get('n', '?'))}] <b>{esc(c.get('document_id', ''))}</b> — "
        f"{esc(_cut(str(c.get('text', '')), 400))}</li>"
        for c in row.citations
    )
    out = f"<h3>Citations</h3><ul>{cites}</ul>" if cites else "<p class=muted>no citations</p>"
    docs = row.context_document_ids
    items = "".join(
        f"<li><b>{esc(docs[i] if i < len(docs) else '')}</b><div class=passage>{esc(_cut(p, PASSAGE_CHARS))}</div></li>"
        for i, p in enumerate(row.contexts)
    )
    if items:
        out += f"<details><summary>{len(row.contexts)} passages</summary><ol>{items}</ol></details>"
    return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _row_card(row: CaseRow, why: str) -> str:
    badges = f'<span class="badge fail">{esc(why)}</span>'
    badges += "" if row.answerable else '<span class="badge info">not answerable</span>'
    tags = " ".join(f'<span class="badge info">{esc(t)}</span>' for t in row.tags)
    answer = f"refused: {row.reason or 'no reason given'}" if row.refused else row.answer
    scores = ", ".join(
        f"{esc(k)} {fmt_value(k, num(s.value))}" + (f" ({esc(s.error)})" if s.error else "")
        for k, s in row.scores.items()
        if k != LATENCY_MS  # shown once, after the support
    )
    ref = f"<h3>Reference answer</h3><div class=text>{esc(row.reference_answer)}</div>" if row.reference_answer else ""
    return (
        f'<div class="row"><p><b>{esc(row.id)}</b> {badges} {tags}</p>'
        f"<h3>Question</h3><div class=text>{esc(row.question)}</div>{ref}"
        f"<h3>Answer</h3><div class=text>{esc(answer)}</div>"
        f"<p><b>Scores</b>: {scores or '–'} · support {row.support:.2f} · {row.latency_ms:.0f} ms</p>"
        f"{_verdicts(row)}{_evidence(row)}</div>"
    )


def _worst(run: RunResult) -> str:
    cards = "".join(_row_card(r, why) for r, why in worst_rows(run))
    failed = [[esc(r.id), esc(r.question), esc(r.error)] for r in run.rows if r.error]
    errors = "<h3>Failed answers</h3>" + table(["id", "question", "error"], failed, 9) if failed else ""
    return f'<section id="worst"><h2>Worst questions</h2>{cards or "<p class=muted>none</p>"}{errors}</section>'


def _comparison(c: dict[str, Any], baseline: RunResult | None) -> str:
    about = f"baseline run {esc(c.get('base'))}"
    if baseline is not None:
        about += f" ({esc(baseline.suite_name)}, started {esc(baseline.started_at)})"
    if not c.get("same_suite", True):
        about += f' · <span class="bad">different suites: compared on {esc(c.get("common"))} common questions</span>'
    rows = []
    for name, m in c.get("metrics", {}).items():
        cls = {"improved": "good", "regressed": "bad"}.get(m.get("direction"), "muted")
        delta = f'<span class="{cls}">{fmt_delta(name, num(m.get("delta")))} {esc(m.get("direction", ""))}</span>'
        sig = "<b>yes</b>" if m.get("significant") else "no"
        rows.append([esc(name), fmt_value(name, num(m.get("base"))), fmt_value(name, num(m.get("new"))), delta, sig])
    regs = c.get("regressions", [])
    reg_rows = [
        [esc(r.get("id")), esc(r.get("question")), esc(r.get("metric")), esc(r.get("reason", ""))]
        for r in regs[:MAX_REGRESSIONS]
    ]
    more = (
        f"<p class=muted>and {len(regs) - MAX_REGRESSIONS} more (see the JSON report)</p>"
        if len(regs) > MAX_REGRESSIONS
        else ""
    )
    ids = "".join(
        f"<p><b>{label}</b>: {esc(', '.join(map(str, c.get(key) or [])))}</p>"
        for key, label in (("added", "added questions"), ("removed", "removed questions"))
        if c.get(key)
    )
    return (
        f'<section id="comparison"><h2>Comparison with the baseline</h2><p>{about}</p>'
        + table(["metric", "baseline", "this run", "delta", "significant (95% CIs apart)"], rows)
        + f"<h3>Regressed questions ({len(regs)})</h3>"
        + (table(["id", "question", "metric", "change"], reg_rows, 9) if reg_rows else "<p class=muted>none</p>")
        + more
        + ids
        + "</section>"
    )


def render_html(run: RunResult, comparison: dict[str, Any] | None = None, baseline: RunResult | None = None) -> str:
    """The report as one self-contained HTML page.

    Args:
        run: the run to report.
        comparison: `compare(baseline, run)`; the baseline section appears only when given (or when `baseline` is).
        baseline: the baseline run; its facts head the baseline section, and `comparison` is computed from it when
            None.

    Returns:
        The HTML text (UTF-8, no external resources, no scripts).
    """
    if comparison is None and baseline is not None:
        comparison = compare(baseline, run)
    body = (
        _header(run, comparison is not None)
        + _gates(run)
        + _aggregates(run)
        + _distributions(run)
        + _tags(run)
        + _worst(run)
    )
    if comparison is not None:
        body += _comparison(comparison, baseline)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Evaluation report: {esc(run.suite_name)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
