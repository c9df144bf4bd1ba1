"""Reports of an evaluation run: JSON round trip, JUnit XML, and the self-contained, escaped HTML page."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest

from eval.compare import compare
from eval.report import render_html, render_junit, row_failure, to_json, write_report
from eval.report_parts import worst_rows
from eval.results import (
    ANSWER_RELEVANCY,
    FAITHFULNESS,
    FALSE_REFUSAL_RATE,
    LATENCY_MS,
    CaseRow,
    MetricSummary,
    RunResult,
    Score,
)

EVIL = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def make_row(
    row_id: str,
    *,
    question: str | None = None,
    tags: tuple[str, ...] = ("billing",),
    answerable: bool = True,
    refused: bool = False,
    answer: str = "Refunds take 14 days [1].",
    scores: dict[str, float | None] | None = None,
    error: str | None = None,
    latency_ms: float = 120.0,
    **extra: Any,
) -> CaseRow:
    """A scored row; `scores` maps metric → value (None: could not be computed)."""
    return CaseRow(
        id=row_id,
        question=question or f"question {row_id}?",
        tags=tags,
        answerable=answerable,
        answer="" if refused or error else answer,
        refused=refused,
        reason="no passage supports an answer" if refused else None,
        latency_ms=latency_ms,
        scores={k: Score(v, None if v is not None else "judge timeout") for k, v in (scores or {}).items()},
        error=error,
        **extra,
    )


def summary(name: str, value: float | None, low: float | None = None, high: float | None = None) -> MetricSummary:
    lo = low if low is not None else (None if value is None else value - 0.05)
    hi = high if high is not None else (None if value is None else value + 0.05)
    return MetricSummary(name, value, lo, hi, n=3 if value is not None else 0, failed=0 if value is not None else 3)


def make_run(
    rows: list[CaseRow],
    *,
    run_id: str = "run-b",
    suite_id: str = "suite-1",
    summaries: dict[str, float | None] | None = None,
    gates: list[dict[str, Any]] | None = None,
    suite_name: str = "support-faq",
) -> RunResult:
    sums = {k: summary(k, v) for k, v in (summaries or {}).items()}
    return RunResult(
        run_id=run_id,
        suite_id=suite_id,
        suite_name=suite_name,
        collection="docs",
        judge="local",
        metrics=list(sums),
        started_at="2025-01-02T03:04:05Z",
        finished_at="2025-01-02T03:05:00Z",
        wall_s=55.0,
        summaries=sums,
        rows=rows,
        judge_stats={"calls": 12, "cache_hits": 3, "failures": 1, "seconds": 40.5},
        gates=gates or [],
        config={"generator": "extractive", "top_k": 5},
    )


def sample_run(**kw: Any) -> RunResult:
    rows = [
        make_row("q1", scores={FAITHFULNESS: 0.95, ANSWER_RELEVANCY: 0.9}, tags=("billing", "refunds")),
        make_row(
            "q2",
            question="How long is the warranty?",
            scores={FAITHFULNESS: 0.2, ANSWER_RELEVANCY: 0.7},
            tags=("warranty",),
            contexts=["The warranty lasts two years.", "Unrelated passage."],
            context_document_ids=["doc-w", "doc-x"],
            citations=[{"n": 1, "document_id": "doc-w", "text": "The warranty lasts two years."}],
            verdicts=[{"sentence": "It lasts five years.", "supported": False, "score": 0.1, "citations": [1]}],
        ),
        make_row("q3", refused=True, scores={FAITHFULNESS: None}, tags=("warranty",)),  # answerable, refused
        make_row("q4", answerable=False, refused=True, tags=()),  # right refusal
        make_row("q5", answerable=False, scores={FAITHFULNESS: 0.8}),  # answered although not answerable
        make_row("q6", error="generator timed out", latency_ms=0.0),
    ]
    gates = [
        {"metric": FAITHFULNESS, "op": ">=", "threshold": 0.8, "value": 0.65, "passed": False, "reason": "below"},
        {"metric": LATENCY_MS, "op": "<=", "threshold": 2000.0, "value": 120.0, "passed": True, "reason": "ok"},
    ]
    sums = {FAITHFULNESS: 0.65, ANSWER_RELEVANCY: 0.8, FALSE_REFUSAL_RATE: 0.25, LATENCY_MS: 120.0}
    return make_run(rows, summaries=sums, gates=gates, **kw)


class TestJson:
    def test_round_trip_and_contract(self) -> None:
        run = sample_run()
        data = json.loads(to_json(run))
        assert data["aggregate"][FAITHFULNESS] == 0.65 and len(data["rows"]) == 6
        assert "comparison" not in data
        assert RunResult.from_dict(data).to_dict() == run.to_dict()

    def test_comparison_included_and_nan_is_null(self) -> None:
        run = sample_run()
        run.rows[0].scores[ANSWER_RELEVANCY] = Score(float("nan"))
        data = json.loads(to_json(run, compare(sample_run(run_id="run-a"), run)))
        assert data["comparison"]["base"] == "run-a"
        assert data["rows"][0]["scores"][ANSWER_RELEVANCY] is None


class TestJunit:
    def test_parses_with_one_suite_and_right_failures(self) -> None:
        run = sample_run()
        root = ET.fromstring(render_junit(run))
        suites = list(root.iter("testsuite"))
        assert len(suites) == 1 and suites[0].get("name") == "grounded-eval:support-faq"
        cases = suites[0].findall("testcase")
        assert len(cases) == 2 + 6
        failures = suites[0].findall("testcase/failure")
        # the faithfulness gate, q3 (refused, answerable), q5 (answered, not answerable), q6 (error)
        assert len(failures) == 4 == int(suites[0].get("failures", "-1"))
        props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
        assert props[FAITHFULNESS] == "0.65" and props["collection"] == "docs"

    def test_row_failure_reasons(self) -> None:
        rows = {r.id: r for r in sample_run().rows}
        assert row_failure(rows["q1"]) is None and row_failure(rows["q4"]) is None
        assert "refused although answerable" in (row_failure(rows["q3"]) or "")
        assert "answered although not answerable" in (row_failure(rows["q5"]) or "")
        assert "generator timed out" in (row_failure(rows["q6"]) or "")

    def test_escapes_markup_and_control_characters(self) -> None:
        run = sample_run(suite_name=EVIL)
        run.rows[0].question = EVIL + "\x00\x0b & more"
        run.rows[2].reason = EVIL
        text = render_junit(run)
        root = ET.fromstring(text)  # would raise on raw markup or control characters
        assert "<script>" not in text
        names = [c.get("name") for c in root.iter("testcase")]
        assert any(EVIL in (n or "") for n in names)


class _Balance(HTMLParser):
    """Counts open elements, so a test can tell that escaping and cutting kept the page well formed."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "circle", "rect", "line"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.scripts += tag == "script"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.scripts += tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def _check_page(html: str) -> None:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    assert parser.stack == [] and parser.scripts == 0


class TestHtml:
    def test_self_contained_page_with_charts_tags_and_worst(self) -> None:
        html = render_html(sample_run())
        _check_page(html)
        assert html.count("<svg") >= 4
        for tag in ("billing", "refunds", "warranty", "(untagged)"):
            assert tag in html
        assert "How long is the warranty?" in html and "It lasts five years." in html
        assert "The warranty lasts two years." in html and "generator timed out" in html
        assert not re.search(r"""(src|href|action|url)\s*[=(]\s*["']?\s*(https?:|//)""", html, re.IGNORECASE)
        assert "http://" not in html and "https://" not in html
        assert 'id="comparison"' not in html and "FAILED: 1 of 2 gates" in html

    def test_untrusted_text_is_escaped_everywhere(self) -> None:
        rows = [
            make_row(
                EVIL,
                question=EVIL,
                answer=EVIL,
                tags=(EVIL,),
                scores={FAITHFULNESS: 0.1},
                contexts=[EVIL + " see https://evil.example/x.js"],
                context_document_ids=[EVIL],
                citations=[{"n": EVIL, "document_id": EVIL, "text": EVIL}],
                verdicts=[{"sentence": EVIL, "supported": False, "score": 0.0, "citations": [EVIL], "reason": EVIL}],
                reference_answer=EVIL,
            ),
            make_row("r", refused=True, scores={}, tags=(EVIL,)),
        ]
        rows[1].reason = EVIL
        run = make_run(rows, summaries={FAITHFULNESS: 0.1}, suite_name=EVIL)
        run.judge_stats = {EVIL: EVIL}
        base = make_run([make_row(EVIL, question=EVIL, scores={FAITHFULNESS: 0.9})], run_id=EVIL, suite_name=EVIL)
        html = render_html(run, baseline=base)
        _check_page(html)
        assert "<script" not in html.lower() and "<img" not in html.lower() and "onerror=alert(2)>" not in html
        assert html.count("&lt;script&gt;") >= 10
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", html, re.IGNORECASE)

    def test_comparison_section_only_when_given(self) -> None:
        base = make_run([make_row("q1", scores={FAITHFULNESS: 0.9})], run_id="run-a", summaries={FAITHFULNESS: 0.9})
        new = make_run([make_row("q1", scores={FAITHFULNESS: 0.3})], summaries={FAITHFULNESS: 0.3})
        assert 'id="comparison"' not in render_html(new)
        with_cmp = render_html(new, compare(base, new))
        assert 'id="comparison"' in with_cmp and "run-a" in with_cmp and "fell by 0.60" in with_cmp
        assert 'class="bad"' in with_cmp and "regressed" in with_cmp
        html = render_html(new, baseline=base)  # computed from the baseline run
        assert 'id="comparison"' in html and "2025-01-02T03:04:05Z" in html

    def test_worst_rows_wrong_refusals_then_lowest_faithfulness(self) -> None:
        rows = [make_row(f"q{i}", scores={FAITHFULNESS: i / 20}) for i in range(20)]
        rows.append(make_row("refused", refused=True))
        rows.append(make_row("perfect", scores={FAITHFULNESS: 1.0}))
        picked = worst_rows(make_run(rows))
        assert [r.id for r, _ in picked] == ["refused"] + [f"q{i}" for i in range(10)]
        assert picked[0][1] == "refused although answerable"

    def test_worst_rows_fall_back_to_support_and_leave_out_perfect_rows(self) -> None:
        rows = [
            make_row("a", support=0.9),
            make_row("b", support=0.1),
            make_row("c", refused=True),
            make_row("ok", support=1.0),
        ]
        picked = worst_rows(make_run(rows))
        assert [r.id for r, _ in picked] == ["c", "b", "a"] and picked[1][1] == "support 0.100"

    def test_empty_run_renders(self) -> None:
        html = render_html(make_run([]))
        _check_page(html)
        assert "no gates" in html and "0 passed, 0 failed" in html


class TestWriteReport:
    @pytest.mark.parametrize("fmt", ["html", "junit", "json"])
    def test_writes_each_format(self, tmp_path, fmt: str) -> None:
        out = write_report(sample_run(), tmp_path / "sub" / f"report.{fmt}", fmt)
        text = out.read_text(encoding="utf-8")
        assert text.startswith({"html": "<!DOCTYPE html>", "junit": "<?xml", "json": "{"}[fmt])

    def test_json_with_baseline_includes_comparison(self, tmp_path) -> None:
        out = write_report(sample_run(), tmp_path / "r.json", "json", baseline=sample_run(run_id="run-a"))
        assert json.loads(out.read_text())["comparison"]["base"] == "run-a"

    def test_unknown_format(self, tmp_path) -> None:
        with pytest.raises(ValueError, match="html, junit, json"):
            write_report(sample_run(), tmp_path / "r.pdf", "pdf")
