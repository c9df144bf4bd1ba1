"""Celery beat task of the scaled profile: score pending live answers (`grounded.eval.score_live`).

Beat sends it every `eval.live_interval_s` when `eval.live_share` > 0; any worker runs it with its own services (the
judge loads once per worker process). The embedded profile runs the same `LiveScorer.tick` in a thread instead.
"""

from __future__ import annotations

from ingest.celery_app import SCORE_LIVE_TASK, celery_app, worker_services


@celery_app.task(name=SCORE_LIVE_TASK)
def score_live() -> int:
    """Store what this worker's sampler holds, then score pending samples; returns how many were scored."""
    svc = worker_services()
    if svc.live is None:
        return 0
    svc.live.sampler.flush()
    return int(svc.live.scorer.tick())
