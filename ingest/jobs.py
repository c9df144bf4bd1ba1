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
from app.core.ports import MetadataStore
from ingest.pipeline import FileReport, IngestPipeline, SourceFile

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def execute_ingest_job(job_id: str, tenant: str, pipeline: IngestPipeline, metadata: MetadataStore) -> dict[str, Any]:
    """Run every file of a job through the pipeline, recording per-file results. Returns the final job dict.

    Files already finished (by an earlier, interrupted attempt) are not run again.
    """
    job = metadata.get_job(tenant, job_id)
    if job["status"] in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.PARTIAL):
        return job
    files: list[dict[str, Any]] = [dict(f) for f in job["files"]]
    specs: list[dict[str, Any]] = job["payload"]["files"]
    job = metadata.update_job(job_id, status=JobStatus.RUNNING, started_at=job.get("started_at") or _now())
    last_write = 0.0
    for i, spec in enumerate(specs):
        if files[i]["status"] in ("succeeded", "failed"):
            continue

        def progress(stage: Stage, counts: dict[str, int], i: int = i) -> None:
            nonlocal last_write
            files[i].update(stage=stage.value, **counts)
            # Throttle writes: a big corpus reports progress thousands of times.
            if time.monotonic() - last_write > 0.5 or stage in (Stage.PARSING, Stage.DONE):
                metadata.update_job(job_id, stage=stage.value, files=files, counts=_counts(files))
                last_write = time.monotonic()

        src = SourceFile(
            path=spec["path"],
            filename=spec["filename"],
            tenant=tenant,
            collection=job["collection"],
            template=spec.get("template"),
            metadata=spec.get("metadata") or {},
            acl_groups=tuple(spec.get("acl_groups") or ()),
            embedder=spec.get("embedder"),
        )
        try:
            report = pipeline.run(src, progress)
        except Exception as e:  # a fault in a stage fails this file, never the whole job
            log.exception("ingest of %s failed", src.filename)
            report = FileReport(
                src.filename, "failed", reason=f"internal error: {type(e).__name__}: {e}", code="internal"
            )
        files[i].update(_file_result(report))
        metadata.update_job(job_id, files=files, counts=_counts(files))
    failed = sum(f["status"] == "failed" for f in files)
    status = JobStatus.SUCCEEDED if failed == 0 else JobStatus.FAILED if failed == len(files) else JobStatus.PARTIAL
    error = None if failed == 0 else f"{failed} of {len(files)} files failed"
    return metadata.update_job(
        job_id,
        status=status,
        stage=Stage.DONE.value,
        files=files,
        counts=_counts(files),
        error=error,
        finished_at=_now(),
    )


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
