"""Evaluation: suites, background runs with progress, results, reports, comparisons, and the live-scoring trend.

Everything is scoped to the key's tenant; runs also to its ACL groups (answers are produced with the caller's groups,
so a run made by a key with more groups is "not found" for a key with fewer). Writing suites and starting runs needs
the evaluator (or admin) role; reading results too — they hold answer and passage text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from app.api.auth import Evaluator
from app.api.eval_schemas import RunIn, SuiteIn
from eval.live_trend import live_trend
from eval.report import render_html, render_junit, to_json
from eval.results import RunResult
from eval.service import EvalService

router = APIRouter(prefix="/v1/eval", tags=["evaluation"])
MEDIA = {"json": "application/json", "html": "text/html; charset=utf-8", "junit": "application/xml"}


def get_evals(request: Request) -> EvalService:
    evals = request.app.state.services.evals
    if evals is None:
        raise HTTPException(404, "evaluation is not configured in this process")
    return evals


EvalDep = Annotated[EvalService, Depends(get_evals)]


@router.post("/suites", status_code=201)
def create_suite(body: SuiteIn, evals: EvalDep, caller: Evaluator, response: Response) -> dict[str, Any]:
    """Validate and store a suite. Its id is a content hash: posting the same rows again returns 200 and the id."""
    suite, created = evals.add_suite(caller.tenant, body.rows, body.name, caller.key_id)
    if not created:
        response.status_code = 200
    return {"id": suite.id, "name": suite.name, "cases": len(suite.cases), "created": created}


@router.get("/suites")
def list_suites(evals: EvalDep, caller: Evaluator) -> dict[str, Any]:
    return {"suites": evals.store.list_suites(caller.tenant)}


@router.get("/suites/{suite_id}")
def get_suite(suite_id: str, evals: EvalDep, caller: Evaluator) -> dict[str, Any]:
    return evals.store.get_suite(caller.tenant, suite_id).to_dict()


@router.post("/runs", status_code=202)
def start_run(body: RunIn, evals: EvalDep, caller: Evaluator) -> dict[str, Any]:
    """Start a run in the background; poll `GET /v1/eval/runs/{run_id}` for progress and the result."""
    return evals.start_run(
        caller.tenant, caller.groups, body.suite_id, body.collection, body.judge, body.metrics, caller.key_id
    )


@router.get("/runs")
def list_runs(
    evals: EvalDep,
    caller: Evaluator,
    collection: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    return {"runs": evals.list_runs(caller.tenant, caller.groups, collection, limit)}


@router.get("/runs/{run_id}")
def get_run(run_id: str, evals: EvalDep, caller: Evaluator) -> dict[str, Any]:
    """The run's status and progress; once it succeeded, `result` with `aggregate`, `summaries` and `rows`."""
    return evals.get_run(caller.tenant, caller.groups, run_id)


@router.get("/runs/{run_id}/report")
def get_report(
    run_id: str,
    evals: EvalDep,
    caller: Evaluator,
    format: Literal["html", "junit", "json"] = "html",
    baseline: Annotated[str | None, Query(max_length=40, description="a run id to compare with")] = None,
) -> Response:
    """The run's report: self-contained HTML (charts), JUnit XML or JSON; with `baseline`, the comparison too."""
    run: RunResult = evals.result(caller.tenant, caller.groups, run_id)
    base = evals.result(caller.tenant, caller.groups, baseline) if baseline else None
    comparison = evals.compare(caller.tenant, caller.groups, baseline, run_id) if baseline else None
    if format == "html":
        body = render_html(run, comparison, base)
    elif format == "junit":
        body = render_junit(run)
    else:
        body = to_json(run, comparison)
    return Response(body, media_type=MEDIA[format])


@router.get("/runs/{base_id}/compare/{new_id}")
def compare_runs(base_id: str, new_id: str, evals: EvalDep, caller: Evaluator) -> dict[str, Any]:
    """Per-metric deltas (new − base, with significance) and per-question regressions."""
    return evals.compare(caller.tenant, caller.groups, base_id, new_id)


@router.get("/live")
def live(
    request: Request,
    evals: EvalDep,
    caller: Evaluator,
    collection: Annotated[str | None, Query(max_length=64)] = None,
    window: Annotated[int | None, Query(ge=1, le=10000)] = None,
    since: datetime | None = None,
    bucket_s: Annotated[int, Query(ge=60, le=30 * 86400)] = 3600,
) -> dict[str, Any]:
    """The trend of continuous scoring per collection: rolling faithfulness, refusal rate, support, alerts."""
    e = request.app.state.services.settings.eval
    out = live_trend(evals.store, caller.tenant, collection, window or e.live_window, since, bucket_s, e.live_threshold)
    return {"share": e.live_share, "judge": e.live_judge, **out}


@router.post("/live/score")
def score_live_now(request: Request, caller: Evaluator) -> dict[str, Any]:
    """Score the pending live samples now (the scheduler does this every `live_interval_s`)."""
    live_scoring = request.app.state.services.live
    if live_scoring is None:
        raise HTTPException(404, "live scoring is not configured in this process")
    live_scoring.sampler.flush()
    return {"scored": live_scoring.scorer.tick()}
