"""`grounded eval qa` (run a suite against a collection: scores, reports, gates), `grounded eval import` (BEIR /
HaluEval → suite file) and `grounded eval live` (the continuous-scoring trend).

Exit codes: 0 all gates passed, 1 a `--fail-under` gate failed, 2 bad input (unknown collection, invalid suite…).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInputError


def add_parsers(ev: Any) -> None:
    s = ev.add_parser("qa", help="answer every question of a suite and score it (Ragas + our metrics)")
    s.add_argument("--collection", "-c", required=True)
    s.add_argument("--suite", required=True, help="JSONL or CSV rows {id, question, reference_answer?, …}")
    s.add_argument(
        "--judge",
        choices=["local", "openai", "none"],
        default=None,
        help="Ragas LLM judge (default GROUNDED_EVAL__JUDGE, 'none': only metrics that need no LLM)",
    )
    s.add_argument("--metrics", nargs="+", default=None, help="metric names (space or comma separated)")
    s.add_argument("--report", help="write the self-contained HTML report here")
    s.add_argument("--junit", help="write JUnit XML here")
    s.add_argument("--json", action="store_true", help="print {aggregate, rows, …} as JSON on stdout")
    s.add_argument("--out", help="write the JSON result here")
    s.add_argument("--baseline", help="a previous run id or its JSON result file: compare with it")
    s.add_argument(
        "--fail-under",
        nargs="+",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when a metric is below VALUE (above, for false_refusal_rate and latency_ms)",
    )
    s.add_argument("--limit", type=int, default=0, help="only the first N questions")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_eval_qa)
    imp = ev.add_parser("import", help="convert BEIR or HaluEval data into a suite file").add_subparsers(
        dest="source", required=True
    )
    s = imp.add_parser("beir", help="queries.jsonl + qrels TSV → suite (reference_document_ids)")
    s.add_argument("--queries", required=True)
    s.add_argument("--qrels", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--name", default=None)
    s.add_argument("--limit", type=int, default=0)
    s.set_defaults(func=cmd_import_beir)
    s = imp.add_parser("halueval", help="HaluEval QA rows → suite (reference answer and context)")
    s.add_argument("--file", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--name", default=None)
    s.add_argument("--limit", type=int, default=0)
    s.set_defaults(func=cmd_import_halueval)
    s = ev.add_parser("live", help="the continuous-scoring trend (rolling faithfulness, refusal rate, alerts)")
    s.add_argument("--collection", "-c", default=None)
    s.add_argument("--score-now", action="store_true", help="score the pending samples first")
    s.set_defaults(func=cmd_eval_live)


def _metrics(raw: list[str] | None) -> list[str] | None:
    if not raw:
        return None
    return [m.strip() for part in raw for m in part.split(",") if m.strip()]


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None

    tty = sys.stderr.isatty()

    def show(phase: str, done: int, total: int) -> None:
        if not tty and done < total and done % max(1, total // 10):
            return  # a log file gets a line every 10 %, a terminal a redrawn bar
        width = 30
        filled = int(width * done / total) if total else width
        end = "\n" if done >= total or not tty else ""
        start = "\r" if tty else ""
        print(
            f"{start}{phase:<9} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def _baseline(svc: Any, ref: str) -> Any:
    from eval.results import RunResult

    path = Path(ref)
    if path.is_file():
        try:
            return RunResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidInputError(f"--baseline {ref} is not a run result JSON file ({e})", "baseline") from e
    return svc.evals.result(svc.settings.default_tenant, None, ref)


def cmd_eval_qa(a: argparse.Namespace) -> int:
    from app.cli_ingest import _services
    from eval.compare import compare
    from eval.gates import apply_gates, parse_gates
    from eval.report import to_json, write_report
    from eval.suites import load_suite

    if a.limit < 0:
        raise InvalidInputError("--limit must be >= 0", "limit")
    try:
        gates = parse_gates(a.fail_under)
    except ValueError as e:
        raise InvalidInputError(str(e), "fail-under") from e
    suite = load_suite(a.suite)  # a bad suite fails before any model loads
    if a.limit:
        from dataclasses import replace

        suite = replace(suite, cases=suite.cases[: a.limit])
    svc = _services()
    try:
        judge = a.judge or svc.settings.eval.judge
        base = _baseline(svc, a.baseline) if a.baseline else None
        config = {"generator": svc.settings.answer.generator, "verifier": svc.settings.answer.verifier}
        run = svc.evals.execute(
            suite,
            a.collection,
            svc.settings.default_tenant,
            None,
            judge,
            _metrics(a.metrics),
            progress=_progress(not a.no_progress and not a.json),
            config=config,
        )
        run.gates = apply_gates(run, gates)
        comparison = compare(base, run) if base is not None else None
        svc.evals.record_run(svc.settings.default_tenant, None, run, "cli")
    finally:
        svc.close()
    if a.report:
        write_report(run, a.report, "html", comparison, base)
    if a.junit:
        write_report(run, a.junit, "junit")
    if a.out:
        Path(a.out).write_text(to_json(run, comparison), encoding="utf-8")
    if a.json:
        print(to_json(run, comparison))
    else:
        print(format_run(run, comparison))
    return 0 if run.passed else 1


def format_run(run: Any, comparison: dict[str, Any] | None) -> str:
    lines = [
        f"run {run.run_id}: suite {run.suite_name} ({len(run.rows)} questions) on {run.collection}, judge "
        f"{run.judge}, {run.wall_s:.1f} s"
    ]
    lines.append(f"  {'metric':<28}{'value':>9}  {'95% CI':<17}{'n':>5}{'failed':>8}{'n/a':>6}")
    for name, s in run.summaries.items():
        value = "—" if s.value is None else f"{s.value:.3f}"
        ci = "" if s.ci_low is None else f"[{s.ci_low:.3f}, {s.ci_high:.3f}]"
        delta = ""
        if comparison and name in comparison.get("metrics", {}):
            d = comparison["metrics"][name].get("delta")
            delta = "" if d is None else f"  Δ {d:+.3f}"
        lines.append(f"  {name:<28}{value:>9}  {ci:<17}{s.n:>5}{s.failed:>8}{s.not_applicable:>6}{delta}")
    if run.judge_stats:
        js = run.judge_stats
        lines.append("  judge: " + ", ".join(f"{k} {v}" for k, v in js.items()))
    for g in run.gates:
        mark = "PASS" if g["passed"] else "FAIL"
        lines.append(
            f"  gate {mark}: {g['metric']} {g['op']} {g['threshold']} (got {g['value']})"
            + (f" — {g['reason']}" if g.get("reason") and not g["passed"] else "")
        )
    if comparison:
        lines.append(f"  regressions vs {comparison['base']}: {len(comparison.get('regressions', []))}")
    return "\n".join(lines)


def cmd_import_beir(a: argparse.Namespace) -> int:
    from eval.suites import import_beir, write_suite

    suite = import_beir(a.queries, a.qrels, a.name or Path(a.out).stem, a.limit or None)
    write_suite(suite, a.out)
    print(f"{len(suite.cases)} questions → {a.out} (suite {suite.id})")
    return 0


def cmd_import_halueval(a: argparse.Namespace) -> int:
    from eval.suites import import_halueval, write_suite

    suite = import_halueval(a.file, a.name or Path(a.out).stem, a.limit or None)
    write_suite(suite, a.out)
    print(f"{len(suite.cases)} questions → {a.out} (suite {suite.id})")
    return 0


def cmd_eval_live(a: argparse.Namespace) -> int:
    from app.container import build_services
    from app.core.settings import get_settings
    from eval.live_trend import live_trend

    settings = get_settings()
    svc = build_services(settings)
    try:
        if a.score_now and svc.live is not None:
            svc.live.scorer.tick()
        e = settings.eval
        trend = live_trend(
            svc.evals.store, settings.default_tenant, a.collection, e.live_window, None, 3600, e.live_threshold
        )
    finally:
        svc.close()
    print(json.dumps(trend, ensure_ascii=False, indent=2))
    return 0
