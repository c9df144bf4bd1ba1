"""Ingestion jobs: the task code (shared by every runner) and the in-process background runner.

A job is persisted in the metadata store before it is queued, updated as it runs, and resumed after a restart:
whatever was queued or running when the process stopped is queued again. Re-running is safe because the
pipeline skips documents whose content hash is already indexed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any

from app.core.domain import JobStatus, Stage
from app.core.errors import StoreError
from app.core.ports import MetadataStore
from ingest.pipeline import FileReport, IngestPipeline, SourceFile

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat()


TERMINAL_JOB = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.PARTIAL})
TERMINAL_FILE = frozenset({"succeeded", "failed"})


class TransientIngestError(Exception):
    """A file's ingest failed for a reason that may pass (store or database unreachable): retry it, later."""


def pending_files(job: dict[str, Any]) -> list[int]:
    """Indexes of the job's files that have not finished (what a runner still has to execute)."""
    return [i for i, f in enumerate(job["files"]) if f["status"] not in TERMINAL_FILE]


def execute_ingest_file(
    job_id: str,
    tenant: str,
    index: int,
    pipeline: IngestPipeline,
    metadata: MetadataStore,
    raise_transient: bool = False,
) -> dict[str, Any]:
    """THE ingest task: run one file of a job through the pipeline and record its result. Every runner calls it.

    Safe to run again (a redelivered message, a resumed job): a finished file is not run twice, and the pipeline
    skips documents whose content hash is already indexed, with deterministic chunk ids. Updates of one job by
    several workers are serialised by `MetadataStore.modify_job`.

    Args:
        raise_transient: raise `TransientIngestError` for store/database faults instead of failing the file, so
            the runner retries the task with backoff (Celery); otherwise they fail the file like any fault.

    Returns:
        The job after this file.
    """
    job = metadata.get_job(tenant, job_id)
    if job["status"] in TERMINAL_JOB or job["files"][index]["status"] in TERMINAL_FILE:
        return job
    spec = job["payload"]["files"][index]
    now = _now()
    metadata.modify_job(
        job_id,
        lambda j: {
            "status": JobStatus.RUNNING.value,
            "started_at": j.get("started_at") or now,
            "files": _set_file(j["files"], index, status="running", stage=Stage.PARSING.value),
        },
    )
    last_write, last_stage = 0.0, Stage.PARSING

    def progress(stage: Stage, counts: dict[str, int]) -> None:
        nonlocal last_write, last_stage
        # Every stage change is written; counts within a stage are throttled (a big corpus reports thousands).
        if stage != last_stage or time.monotonic() - last_write > 0.5 or stage in (Stage.PARSING, Stage.DONE):
            metadata.modify_job(
                job_id,
                lambda j: {"stage": stage.value, "files": _set_file(j["files"], index, stage=stage.value, **counts)},
            )
            last_write, last_stage = time.monotonic(), stage

    src = SourceFile(
        path=spec["path"],
        filename=spec["filename"],
        tenant=tenant,
        collection=job["collection"],
        template=spec.get("template"),
        metadata=spec.get("metadata") or {},
        acl_groups=tuple(spec.get("acl_groups") or ()),
        embedder=spec.get("embedder"),
        template_params=spec.get("template_params") or {},
        source_uri=spec.get("source_uri"),
    )
    try:
        report = pipeline.run(src, progress)
    except StoreError as e:
        if raise_transient:
            raise TransientIngestError(str(e)) from e
        log.exception("ingest of %s failed", src.filename)
        report = FileReport(src.filename, "failed", reason=f"store unavailable: {e}", code="store_error")
    except Exception as e:  # a fault in a stage fails this file, never the whole job
        log.exception("ingest of %s failed", src.filename)
        report = FileReport(src.filename, "failed", reason=f"internal error: {type(e).__name__}: {e}", code="internal")
    return record_file_result(job_id, index, report, metadata)


def record_file_result(job_id: str, index: int, report: FileReport, metadata: MetadataStore) -> dict[str, Any]:
    """Store one file's outcome and, when it was the last file, the job's final status (one locked update)."""

    def change(job: dict[str, Any]) -> dict[str, Any]:
        return _settle(job | {"files": _set_file(job["files"], index, **_file_result(report))})

    return metadata.modify_job(job_id, change)


def _settle(job: dict[str, Any]) -> dict[str, Any]:
    """The fields to store for a job whose files are as given: counts, and the final status once all finished."""
    files = job["files"]
    fields: dict[str, Any] = {"files": files, "counts": _counts(files)}
    if all(f["status"] in TERMINAL_FILE for f in files) and job["status"] not in TERMINAL_JOB:
        failed = sum(f["status"] == "failed" for f in files)
        status = JobStatus.SUCCEEDED if failed == 0 else JobStatus.FAILED if failed == len(files) else JobStatus.PARTIAL
        fields |= {
            "status": status.value,
            "stage": Stage.DONE.value,
            "error": None if failed == 0 else f"{failed} of {len(files)} files failed",
            "finished_at": _now(),
        }
    return fields


def execute_ingest_job(job_id: str, tenant: str, pipeline: IngestPipeline, metadata: MetadataStore) -> dict[str, Any]:
    """Run every unfinished file of a job, in order, in this thread (the in-process runner). Returns the job."""
    job = metadata.get_job(tenant, job_id)
    for index in pending_files(job):
        job = execute_ingest_file(job_id, tenant, index, pipeline, metadata)
    if job["status"] not in TERMINAL_JOB:  # every file had finished before (an interrupted settle): settle now
        job = metadata.modify_job(job_id, _settle)
    return job


def _set_file(files: list[dict[str, Any]], index: int, **fields: Any) -> list[dict[str, Any]]:
    out = [dict(f) for f in files]
    out[index].update(fields)
    return out


def _file_result(r: FileReport) -> dict[str, Any]:
    return {
        "status": r.status,
        "stage": Stage.DONE.value if r.status == "succeeded" else Stage.FAILED.value,
        "document_ids": list(r.document_ids) or None,
        "documents": r.documents,
        "unchanged": r.unchanged,
        "chunks": r.chunks,
        "reason": r.reason,
        "code": r.code,
        "timings_ms": r.timings_ms,
    }


def _counts(files: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "files_total": len(files),
        "files_succeeded": sum(f["status"] == "succeeded" for f in files),
        "files_failed": sum(f["status"] == "failed" for f in files),
        "documents": sum(int(f.get("documents") or 0) for f in files),
        "chunks": sum(int(f.get("chunks") or 0) for f in files),
    }


def new_file_entry(
    filename: str, document_ids: list[str] | None, rejected: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The per-file record of a new job; a file rejected at upload is recorded as failed with its reason."""
    entry: dict[str, Any] = {
        "filename": filename,
        "status": "queued",
        "stage": Stage.QUEUED.value,
        "document_ids": document_ids,
        "documents": 0,
        "unchanged": 0,
        "chunks": 0,
        "reason": None,
        "code": None,
        "timings_ms": {},
    }
    if rejected:
        entry.update(status="failed", stage=Stage.FAILED.value, code=rejected[0], reason=rejected[1])
    return entry


class InProcessJobRunner:
    """Background threads that execute ingest jobs in this process (the embedded default).

    Usage::

        runner = InProcessJobRunner(pipeline, metadata, workers=1)
        runner.start()          # also resumes jobs left queued/running by a previous process
        runner.submit(job_id, tenant)
    """

    def __init__(self, pipeline: IngestPipeline, metadata: MetadataStore, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.pipeline, self.metadata, self.workers = pipeline, metadata, workers
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Condition()
        self._active = 0

    def start(self) -> int:
        """Start the workers and re-queue interrupted jobs; returns how many were resumed."""
        for n in range(self.workers):
            t = threading.Thread(target=self._loop, name=f"ingest-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        resumed = self.metadata.list_jobs([JobStatus.QUEUED.value, JobStatus.RUNNING.value])
        for job in resumed:
            log.info("resuming job %s", job["id"])
            self.submit(job["id"], job["tenant"])
        return len(resumed)

    def submit(self, job_id: str, tenant: str) -> None:
        with self._idle:
            self._active += 1
        self._queue.put((job_id, tenant))

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job_id, tenant = item
            try:
                execute_ingest_job(job_id, tenant, self.pipeline, self.metadata)
            except Exception:
                log.exception("job %s crashed", job_id)
                try:
                    self.metadata.update_job(
                        job_id, status=JobStatus.FAILED, error="internal error", finished_at=_now()
                    )
                except Exception:
                    log.exception("cannot record failure of job %s", job_id)
            finally:
                with self._idle:
                    self._active -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running (CLI and tests)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout=timeout)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
