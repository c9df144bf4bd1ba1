"""Evaluation suites, runs, live scores and alerts in the metadata database (SQLite or PostgreSQL).

Every read and write names the tenant: another tenant's suite or run is "not found", exactly like documents.
Runs are rows with a status (queued → running → succeeded | failed), progress and, once finished, the whole
`RunResult` as JSON. Live samples are written by the background writer (never on the request path) as `pending`
and scored later by the scheduler.

Example:
    store = SqlEvalStore(metadata_store)
    store.save_suite("acme", suite, actor="key1")
    store.create_run("acme", "run-1", suite.id, "hr", "none", ["faithfulness"], actor="key1")
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, MetaData, String, Table, insert, select, update

from app.adapters.metadata_db import SqlMetadataStore
from app.adapters.metadata_models import _iso, _now
from app.core.errors import NotFoundError
from eval.live_store import LiveTables
from eval.live_store import metadata as live_metadata
from eval.results import Suite, SuiteCase

_metadata = MetaData()
suites = Table(
    "eval_suites",
    _metadata,
    Column("tenant", String, primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("name", String, nullable=False),
    Column("cases", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String, nullable=False),
)
runs = Table(
    "eval_runs",
    _metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant", String, nullable=False),
    Column("suite_id", String(40), nullable=False),
    Column("collection", String, nullable=False),
    Column("judge", String, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("groups", JSON, nullable=True),  # the ACL groups the answers were produced with (NULL = unrestricted)
    Column("status", String, nullable=False),
    Column("progress", JSON, nullable=False),
    Column("result", JSON, nullable=True),
    Column("error", String, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("created_by", String, nullable=False),
    Index("ix_eval_runs_tenant", "tenant", "created_at"),
)


def _run_out(row: Any, with_result: bool = True) -> dict[str, Any]:
    out = {
        "run_id": row["id"],
        "suite_id": row["suite_id"],
        "collection": row["collection"],
        "judge": row["judge"],
        "metrics": list(row["metrics"] or []),
        "groups": None if row["groups"] is None else list(row["groups"]),
        "status": row["status"],
        "progress": dict(row["progress"] or {}),
        "error": row["error"],
        "created_at": _iso(row["created_at"]),
        "finished_at": _iso(row["finished_at"]),
        "created_by": row["created_by"],
    }
    if with_result:
        out["result"] = row["result"]
    return out


class SqlEvalStore(LiveTables):
    """Tenant-scoped storage of evaluation suites, runs, live samples and alerts, on the metadata store's engine."""

    def __init__(self, metadata: SqlMetadataStore) -> None:
        self.metadata = metadata
        with metadata.session() as s:
            _metadata.create_all(s.connection())
            live_metadata.create_all(s.connection())

    # -- suites ------------------------------------------------------------------------------------------------
    def save_suite(self, tenant: str, suite: Suite, actor: str) -> bool:
        """Store a suite; False when this tenant already has it (the id is a content hash: nothing changes)."""
        with self._tx() as s:
            if s.execute(select(suites.c.id).where(suites.c.tenant == tenant, suites.c.id == suite.id)).first():
                return False
            cases = [c.to_dict() for c in suite.cases]
            s.execute(
                insert(suites).values(
                    tenant=tenant, id=suite.id, name=suite.name, cases=cases, created_at=_now(), created_by=actor
                )
            )
            return True

    def get_suite(self, tenant: str, suite_id: str) -> Suite:
        with self._tx() as s:
            row = s.execute(select(suites).where(suites.c.tenant == tenant, suites.c.id == suite_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"evaluation suite {suite_id!r} not found", "suite")
        return Suite(row["id"], row["name"], tuple(SuiteCase.from_dict(c) for c in row["cases"]))

    def list_suites(self, tenant: str) -> list[dict[str, Any]]:
        q = select(suites).where(suites.c.tenant == tenant).order_by(suites.c.created_at)
        with self._tx() as s:
            rows = s.execute(q).mappings().all()
        return [
            {"id": r["id"], "name": r["name"], "cases": len(r["cases"]), "created_at": _iso(r["created_at"])}
            for r in rows
        ]

    # -- runs --------------------------------------------------------------------------------------------------
    def create_run(
        self,
        tenant: str,
        run_id: str,
        suite_id: str,
        collection: str,
        judge: str,
        metrics: list[str],
        actor: str,
        groups: tuple[str, ...] | None = (),
    ) -> dict[str, Any]:
        values = {
            "groups": None if groups is None else list(groups),
            "id": run_id,
            "tenant": tenant,
            "suite_id": suite_id,
            "collection": collection,
            "judge": judge,
            "metrics": list(metrics),
            "status": "queued",
            "progress": {"phase": "queued", "done": 0, "total": 0},
            "created_at": _now(),
            "created_by": actor,
        }
        with self._tx() as s:
            s.execute(insert(runs).values(**values))
        return self.get_run(tenant, run_id)

    def set_progress(self, run_id: str, phase: str, done: int, total: int) -> None:
        status = "running" if phase not in ("queued",) else "queued"
        with self._tx() as s:
            s.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=status, progress={"phase": phase, "done": done, "total": total})
            )

    def finish_run(self, run_id: str, result: dict[str, Any] | None, error: str | None = None) -> None:
        """The run's end: its result (succeeded) or the reason it failed — written once, with the finish time."""
        values: dict[str, Any] = {"finished_at": _now(), "status": "failed" if error else "succeeded"}
        if error:
            values["error"] = error[:2000]
        else:
            values["result"] = result
        with self._tx() as s:
            s.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def get_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        with self._tx() as s:
            row = s.execute(select(runs).where(runs.c.tenant == tenant, runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"evaluation run {run_id!r} not found", "run")
        return _run_out(row)

    def list_runs(self, tenant: str, collection: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = select(runs).where(runs.c.tenant == tenant)
        if collection:
            q = q.where(runs.c.collection == collection)
        with self._tx() as s:
            rows = s.execute(q.order_by(runs.c.created_at.desc()).limit(limit)).mappings().all()
        return [_run_out(r, with_result=False) for r in rows]

    def fail_unfinished(self, reason: str) -> int:
        """Runs left queued/running by a process that stopped: marked failed with `reason` (called at start-up)."""
        with self._tx() as s:
            res = s.execute(
                update(runs)
                .where(runs.c.status.in_(("queued", "running")))
                .values(status="failed", error=reason, finished_at=_now())
            )
            return int(res.rowcount or 0)
