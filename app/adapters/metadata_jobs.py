"""The jobs part of `SqlMetadataStore`: persisted ingest jobs, updated under a row lock by concurrent workers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.adapters.metadata_models import (
    JOB_KEYS,
    JOB_REQUIRED,
    JOB_TIMES,
    JOB_UPDATABLE,
    JobRow,
    _job,
    _job_value,
    _now,
)
from app.core.errors import NotFoundError


class JobRecords:
    """Mixed into SqlMetadataStore, whose `_session` (one committed transaction) it uses."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]

    def create_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Store a new job and return it with every key of JOB_KEYS and JOB_TIMES.

        Args:
            job: needs id, tenant, collection, status, files, payload; may set stage (default "queued"), counts,
                error and the timestamps.

        Raises:
            ValueError: a required key is missing or a key is unknown.
            ConflictError: a job with this id exists.
        """
        missing, unknown = JOB_REQUIRED - job.keys(), job.keys() - set(JOB_KEYS) - set(JOB_TIMES)
        if missing or unknown:
            valid = JOB_KEYS + JOB_TIMES
            raise ValueError(f"job: missing {sorted(missing)}, unknown {sorted(unknown)}; valid: {valid}")
        now = _now()
        values = {"stage": "queued", "counts": {}} | job | {"created_at": job.get("created_at") or now}
        values["updated_at"] = now
        row = JobRow(**{k: _job_value(k, values.get(k)) for k in JOB_KEYS + JOB_TIMES})
        with self._session(conflict=f"job already exists: {job['id']}") as s:
            s.add(row)
            s.flush()
            return _job(row)

    def update_job(self, job_id: str, **fields: Any) -> dict[str, Any]:
        """Set the given fields (see JOB_UPDATABLE) and updated_at; returns the stored job.

        Raises:
            ValueError: a field is not updatable.
            NotFoundError: no job has this id.
        """
        unknown = fields.keys() - JOB_UPDATABLE
        if unknown:
            raise ValueError(f"update_job: unknown fields {sorted(unknown)}; valid: {sorted(JOB_UPDATABLE)}")
        with self._session() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise NotFoundError("job", job_id)
            for key, value in fields.items():
                setattr(row, key, _job_value(key, value))
            row.updated_at = _now()
            s.flush()
            return _job(row)

    def modify_job(self, job_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read-modify-write one job under a row lock: `change(job)` returns the fields to set (JOB_UPDATABLE).

        Workers in several processes update different files of one job; the lock (SELECT … FOR UPDATE on
        PostgreSQL, BEGIN IMMEDIATE on SQLite) keeps their updates from overwriting each other.

        Raises:
            NotFoundError: no job has this id.
        """
        with self._session() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise NotFoundError("job", job_id)
            fields = change(_job(row))
            unknown = fields.keys() - JOB_UPDATABLE
            if unknown:
                raise ValueError(f"modify_job: unknown fields {sorted(unknown)}; valid: {sorted(JOB_UPDATABLE)}")
            for key, value in fields.items():
                setattr(row, key, _job_value(key, value))
            if fields:
                row.updated_at = _now()
            s.flush()
            return _job(row)

    def get_job(self, tenant: str, job_id: str) -> dict[str, Any]:
        """The tenant's job. Raises NotFoundError("job", id), also for another tenant's job."""
        with self._session() as s:
            row = s.get(JobRow, job_id)
            if row is None or row.tenant != tenant:
                raise NotFoundError("job", job_id)
            return _job(row)

    def list_jobs(self, statuses: Sequence[str], tenant: str | None = None) -> list[dict[str, Any]]:
        """Jobs whose status is in `statuses` (every tenant unless `tenant`), oldest first."""
        if not statuses:
            return []
        stmt = select(JobRow).where(JobRow.status.in_([str(x) for x in statuses]))
        if tenant is not None:
            stmt = stmt.where(JobRow.tenant == tenant)
        with self._session() as s:
            return [_job(r) for r in s.scalars(stmt.order_by(JobRow.created_at, JobRow.id))]
