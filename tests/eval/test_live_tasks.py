"""Live scoring in the scaled profile: beat schedules `grounded.eval.score_live` when a share is set, and the task
scores what is pending with the worker's own services (the same LiveScorer as the embedded scheduler)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.settings import Settings
from eval import tasks as eval_tasks
from ingest import celery_app
from tests.conftest import DEMO_DIR, make_services, make_settings


def test_beat_schedules_live_scoring_only_when_a_share_is_set(tmp_path: Path) -> None:
    off = celery_app.create_celery(Settings(data_dir=tmp_path))
    on = celery_app.create_celery(Settings(data_dir=tmp_path, eval={"live_share": 0.1, "live_interval_s": 15}))
    assert "score-live" not in off.conf.beat_schedule
    assert on.conf.beat_schedule["score-live"] == {"task": celery_app.SCORE_LIVE_TASK, "schedule": 15.0}
    assert "eval.tasks" in on.conf.include


def test_the_task_scores_pending_live_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = make_services(make_settings(tmp_path, eval={"live_share": 1.0, "live_interval_s": 3600}))
    try:
        monkeypatch.setattr(eval_tasks, "worker_services", lambda: svc)
        from app.cli_ingest import ingest_paths

        ingest_paths(svc, "demo", [str(DEMO_DIR)], {}, quiet=True)
        for q in ("How many days of paid annual leave do full-time employees get?", "Who won the 1998 World Cup?"):
            svc.kb.answer("default", "demo", q)
        assert eval_tasks.score_live.apply().get() == 2  # eager, as a worker runs it
        rows = svc.evals.store.live_rows("default", "demo", None)
        assert len(rows) == 2 and all(r["status"] in ("scored", "skipped", "failed") for r in rows)
        assert eval_tasks.score_live.apply().get() == 0
    finally:
        svc.close()
