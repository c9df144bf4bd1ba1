"""The Celery task code in this process: retry policy (transient faults retry with backoff, bad files do not),
and beat's re-queueing of stalled jobs onto a real Redis broker."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.errors import StoreError
from app.knowledge import Upload
from ingest import celery_app as tasks
from tests.conftest import make_services, make_settings

REDIS_URL = os.environ.get("GROUNDED_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    services = make_services(make_settings(tmp_path, task_max_retries=2))
    services.runner.stop()  # jobs are run by the task code under test, not by the in-process runner
    monkeypatch.setattr(tasks, "worker_services", lambda: services)
    yield services
    services.close()


def queue_job(svc, files: dict[str, bytes]) -> str:
    svc.kb.create_collection("default", "c")
    return svc.kb.upload("default", "c", [Upload(n, io.BytesIO(b)) for n, b in files.items()]).job_id


def test_transient_fault_is_retried_then_recorded(svc, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = queue_job(svc, {"a.txt": b"Alpha rules."})
    calls = []

    def unreachable(src, progress=None):
        calls.append(src.filename)
        raise StoreError("qdrant: connection refused")

    monkeypatch.setattr(svc.pipeline, "run", unreachable)
    result = tasks.ingest_file.apply(args=(job_id, "default", 0))  # eager: retries run here, in order
    assert result.get() == "failed"
    assert calls == ["a.txt"] * 3  # the first try and task_max_retries=2 retries
    f = svc.kb.get_job("default", job_id)["files"][0]
    assert f["status"] == "failed" and f["code"] == "store_error" and "gave up after retries" in f["reason"]


def test_transient_fault_that_passes_succeeds(svc, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = queue_job(svc, {"a.txt": b"Alpha rules."})
    real, calls = svc.pipeline.run, []

    def flaky(src, progress=None):
        calls.append(1)
        if len(calls) == 1:
            raise StoreError("database is locked")
        return real(src, progress)

    monkeypatch.setattr(svc.pipeline, "run", flaky)
    assert tasks.ingest_file.apply(args=(job_id, "default", 0)).get() == "succeeded"
    assert len(calls) == 2


def test_bad_file_fails_at_once_without_retry(svc, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = queue_job(svc, {"bad.docx": b"PK\x03\x04 not a zip", "ok.txt": b"Fine text here."})
    real, calls = svc.pipeline.run, []
    monkeypatch.setattr(
        svc.pipeline, "run", lambda src, progress=None: calls.append(src.filename) or real(src, progress)
    )
    assert tasks.ingest_file.apply(args=(job_id, "default", 0)).get() == "running"  # one of two files done
    assert tasks.ingest_file.apply(args=(job_id, "default", 1)).get() == "partial"
    assert calls == ["bad.docx", "ok.txt"]
    # A redelivered message for a finished file does nothing.
    assert tasks.ingest_file.apply(args=(job_id, "default", 0)).get() == "partial"
    assert calls == ["bad.docx", "ok.txt"]


@pytest.mark.integration
def test_beat_requeues_files_of_stalled_jobs(svc, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    try:
        r = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        r.flushdb()
    except redis.exceptions.RedisError as e:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {e}")
    app = tasks.create_celery(svc.settings.model_copy(update={"broker_url": REDIS_URL}))
    monkeypatch.setattr(
        tasks.ingest_file, "apply_async", lambda args, queue: app.send_task(tasks.INGEST_TASK, args, queue=queue)
    )
    fresh = queue_job(svc, {"a.txt": b"Alpha.", "b.txt": b"Beta."})
    assert tasks.requeue_stalled() == 0  # nothing is old enough yet
    old = (datetime.now(UTC) - timedelta(seconds=svc.settings.stalled_after_s + 60)).isoformat()
    with svc.metadata._session() as s:  # backdate the job: it has made no progress for too long
        from app.adapters.metadata_models import JobRow

        s.get(JobRow, fresh).updated_at = datetime.fromisoformat(old)
    assert tasks.requeue_stalled() == 2
    assert r.llen("ingest") == 2
