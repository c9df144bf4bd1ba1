"""The scaled profile's workers: Celery on a Redis broker, running the SAME task code as the in-process runner.

One Celery task is one file of a job (`execute_ingest_file`): a big upload spreads over every worker, and the
longest task is bounded by one file (parse timeout + embedding), so the broker's visibility timeout can be set
safely above `task_time_limit_s` (validated in Settings). Delivery guarantees:

- `acks_late` + `reject_on_worker_lost`: a task whose worker dies (SIGKILL, OOM) is delivered again; with Redis,
  after `broker_visibility_timeout_s` when the whole worker died.
- Idempotent: a finished file is not run twice; a re-run file produces the same chunk ids (content hashes).
- Transient faults (store or database unreachable) retry with exponential backoff; a bad file fails at once.
- Beat runs `grounded.requeue_stalled` every minute: files of a job that made no progress for `stalled_after_s`
  (a lost message, a broker flushed) are queued again, so no job stays "running" forever.

Run a worker::

    GROUNDED_BROKER_URL=redis://127.0.0.1:6379/0 celery -A ingest.celery_app worker -Q ingest -c 1
    GROUNDED_BROKER_URL=redis://127.0.0.1:6379/0 celery -A ingest.celery_app beat -s /tmp/beat-schedule
"""

from __future__ import annotations

from app.core.runtime import pin_threads

pin_threads()  # before anything imports numpy: a worker process starts here

import logging  # noqa: E402
import threading  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from celery import Celery  # noqa: E402

from app.core.domain import JobStatus  # noqa: E402
from app.core.settings import Settings, get_settings  # noqa: E402
from ingest.jobs import TransientIngestError, execute_ingest_file, pending_files  # noqa: E402

log = logging.getLogger(__name__)

QUEUE = "ingest"
INGEST_TASK = "grounded.ingest_file"
REQUEUE_TASK = "grounded.requeue_stalled"
SCORE_LIVE_TASK = "grounded.eval.score_live"  # defined in eval/tasks.py (evaluation sits above ingestion)


def create_celery(settings: Settings) -> Celery:
    """The Celery app for these settings (broker = GROUNDED_BROKER_URL)."""
    app = Celery("grounded", broker=settings.broker_url or "redis://127.0.0.1:6379/0", include=["eval.tasks"])
    schedule: dict[str, Any] = {"requeue-stalled": {"task": REQUEUE_TASK, "schedule": 60.0}}
    if settings.eval.live_share > 0:
        schedule["score-live"] = {"task": SCORE_LIVE_TASK, "schedule": settings.eval.live_interval_s}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds one file at a time: a killed worker strands only that one
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=max(1, settings.task_time_limit_s - 30),
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            # How often a worker looks for unacknowledged messages of dead workers to restore.
            "unacked_restore_interval": min(60, max(1, settings.broker_visibility_timeout_s // 4)),
        },
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        beat_schedule=schedule,
    )
    return app


celery_app = create_celery(get_settings())
_services: Any = None
_services_lock = threading.Lock()


def worker_services() -> Any:
    """This worker process's services, built once (models load at the first task, not at import)."""
    global _services
    with _services_lock:
        if _services is None:
            from app.container import build_services

            _services = build_services(get_settings())
            _services.store.ensure_ready()
        return _services


@celery_app.task(name=INGEST_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def ingest_file(self: Any, job_id: str, tenant: str, index: int) -> str:
    """Ingest one file of a job; returns the job's status after it."""
    svc = worker_services()
    try:
        job = execute_ingest_file(job_id, tenant, index, svc.pipeline, svc.metadata, raise_transient=True)
    except TransientIngestError as e:
        settings = svc.settings
        if self.request.retries >= settings.task_max_retries:
            from ingest.jobs import record_file_result
            from ingest.pipeline import FileReport

            spec = svc.metadata.get_job(tenant, job_id)["files"][index]
            report = FileReport(spec["filename"], "failed", reason=f"gave up after retries: {e}", code="store_error")
            return str(record_file_result(job_id, index, report, svc.metadata)["status"])
        countdown = min(300, 2 ** (self.request.retries + 1))
        log.warning("file %s of job %s: transient fault, retry in %d s: %s", index, job_id, countdown, e)
        raise self.retry(exc=e, countdown=countdown, max_retries=settings.task_max_retries) from e
    return str(job["status"])


@celery_app.task(name=REQUEUE_TASK)
def requeue_stalled() -> int:
    """Queue again the unfinished files of jobs idle for longer than `stalled_after_s`; returns how many."""
    svc = worker_services()
    cutoff = datetime.now(UTC) - timedelta(seconds=svc.settings.stalled_after_s)
    queued = 0
    for job in svc.metadata.list_jobs([JobStatus.QUEUED.value, JobStatus.RUNNING.value]):
        if datetime.fromisoformat(job["updated_at"]) < cutoff:
            for index in pending_files(job):
                ingest_file.apply_async((job["id"], job["tenant"], index), queue=QUEUE)
                queued += 1
            log.warning("re-queued %d stalled file(s) of job %s", len(pending_files(job)), job["id"])
    return queued


class CeleryJobRunner:
    """Submits each file of a job as one Celery task (the scaled profile). Same interface as InProcessJobRunner.

    Usage::

        runner = CeleryJobRunner(metadata)
        runner.submit(job_id, tenant)
    """

    def __init__(self, metadata: Any, app: Celery | None = None) -> None:
        self.metadata = metadata
        self.app = app or celery_app

    def start(self) -> int:
        """Nothing to start: workers are separate processes; stalled jobs are re-queued by beat."""
        return 0

    def submit(self, job_id: str, tenant: str) -> None:
        job = self.metadata.get_job(tenant, job_id)
        for index in pending_files(job):
            self.app.send_task(INGEST_TASK, (job_id, tenant, index), queue=QUEUE)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Jobs run elsewhere: callers poll the job record instead."""
        return True

    def stop(self) -> None:
        return None
