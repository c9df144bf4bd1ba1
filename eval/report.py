"""Reports of an evaluation run: JSON (the `--json` contract), JUnit XML (for CI), and a self-contained HTML page.

Every text that comes from a row (questions, answers, passages, tags, reasons) is untrusted: it comes from customer
documents and model output. JSON escapes by construction; the JUnit XML is built with ElementTree (which escapes)
after removing the characters XML 1.0 cannot hold; the HTML page escapes in `report_html`.

Usage::

    write_report(run, Path("out.xml"), "junit")
    write_report(run, Path("out.html"), "html", baseline=previous_run)
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from eval.compare import compare
from eval.report_html import render_html
from eval.report_parts import fmt_threshold, wrong_refusal
from eval.results import CaseRow, RunResult

__all__ = ["FORMATS", "render_html", "render_junit", "row_failure", "to_json", "write_report"]

FORMATS = ("html", "junit", "json")
# Characters XML 1.0 cannot hold, even escaped (control characters from extracted PDFs, lone surrogates).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def to_json(run: RunResult, comparison: dict[str, Any] | None = None) -> str:
    """The run as one JSON object: `run.to_dict()` (top-level `aggregate`, metric → value, and `rows`), plus
    `comparison` when given. `RunResult.from_dict(json.loads(...))` reads it back. NaN and infinities become null,
    so the output is strict JSON."""
    data = run.to_dict()
    if comparison is not None:
        data["comparison"] = comparison
    return json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False)


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def row_failure(row: CaseRow) -> str | None:
    """Why a row fails as a test case — the answer failed, or the refusal decision was wrong — else None."""
    if row.error:
        return f"the answer failed: {row.error}"
    why = wrong_refusal(row)
    if why and row.refused:
        return f"{why}: {row.reason or 'no reason given'}"
    return why


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def render_junit(run: RunResult) -> str:
    """JUnit XML: one `<testsuite name="grounded-eval:<suite name>">` with a test case per gate (a failure when the
    gate failed) and one per question (a failure when the answer errored, or was refused although answerable, or
    answered although not answerable). The aggregate values are the suite's properties."""
    gate_failures = sum(1 for g in run.gates if not g.get("passed"))
    row_failures = [row_failure(r) for r in run.rows]
    failures = gate_failures + sum(1 for f in row_failures if f)
    tests = len(run.gates) + len(run.rows)
    counts = {"tests": str(tests), "failures": str(failures), "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", {"name": "grounded-eval", **counts, "time": f"{run.wall_s:.3f}"})
    suite_attrs = {"name": _text(f"grounded-eval:{run.suite_name}"), **counts, "time": f"{run.wall_s:.3f}"}
    suite = ET.SubElement(root, "testsuite", {**suite_attrs, "timestamp": _text(run.started_at)})
    props = ET.SubElement(suite, "properties")
    facts = {"run_id": run.run_id, "suite_id": run.suite_id, "collection": run.collection, "judge": run.judge}
    for fact, text in facts.items():
        ET.SubElement(props, "property", {"name": fact, "value": _text(text)})
    for metric, value in run.aggregate.items():
        ET.SubElement(props, "property", {"name": _text(metric), "value": _num(value)})
    for gate in run.gates:
        name = f"{gate.get('metric')} {gate.get('op', '>=')} {fmt_threshold(gate.get('threshold'))}"
        case = ET.SubElement(suite, "testcase", {"classname": "grounded-eval.gates", "name": _text(name), "time": "0"})
        if not gate.get("passed"):
            reason = gate.get("reason") or f"{gate.get('metric')} = {_num(gate.get('value'))}"
            failure = ET.SubElement(case, "failure", {"type": "gate", "message": _text(reason)})
            failure.text = _text(reason)
    for row, why in zip(run.rows, row_failures, strict=True):
        name = f"{row.id}: {row.question[:120]}"
        attrs = {"classname": "grounded-eval.questions", "name": _text(name), "time": f"{row.latency_ms / 1000:.3f}"}
        case = ET.SubElement(suite, "testcase", attrs)
        if why:
            failure = ET.SubElement(
                case, "failure", {"type": "error" if row.error else "refusal", "message": _text(why)}
            )
            failure.text = _text(f"{why}\n\nquestion: {row.question}\nanswer: {row.answer}")
        scores = " ".join(f"{k}={_num(s.value)}" for k, s in row.scores.items())
        tags = ",".join(row.tags)
        ET.SubElement(case, "system-out").text = _text(f"tags: {tags}\nsupport: {row.support:.3f}\n{scores}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_report(
    run: RunResult,
    path: str | Path,
    fmt: str,
    comparison: dict[str, Any] | None = None,
    baseline: RunResult | None = None,
) -> Path:
    """Write the run as `fmt` ("html", "junit" or "json") to `path` (UTF-8; parent folders are created).

    Args:
        run: the run to report.
        path: the output file.
        fmt: one of `FORMATS`.
        comparison: `compare(baseline, run)`, shown in the HTML report and included in the JSON one.
        baseline: the baseline run; when `comparison` is None it is computed from it (HTML and JSON). The HTML
            report also shows its facts.

    Returns:
        The path written.

    Raises:
        ValueError: an unknown format (the message lists the valid ones).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if comparison is None and baseline is not None:
        comparison = compare(baseline, run)
    if fmt == "html":
        text = render_html(run, comparison, baseline)
    elif fmt == "junit":
        text = render_junit(run)
    else:
        text = to_json(run, comparison)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
