"""The live-scoring tables (`eval_live`: sampled answers and their scores; `eval_alerts`: drift incidents) and their
queries, mixed into `SqlEvalStore` (store.py) so one store object serves runs and live scoring on the same engine.

A sample is written `pending` by the sampler's writer thread and becomes `scored`, `failed` (judge fault, with the
reason) or `skipped` (a refusal or an FAQ answer: nothing to judge). An alert is open while `closed_at` is NULL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Float, Index, Integer, MetaData, String, Table, insert, select, update

from app.adapters.metadata_models import _iso, _now

metadata = MetaData()
live = Table(
    "eval_live",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("collection", String, nullable=False),
    Column("request_id", String, nullable=False),
    Column("sample", JSON, nullable=False),  # question, answer, contexts, provenance
    Column("refused", Integer, nullable=False),
    Column("support", Float, nullable=False),
    Column("status", String, nullable=False),  # pending | scored | failed | skipped
    Column("faithfulness", Float, nullable=True),
    Column("judge", String, nullable=True),
    Column("error", String, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=True),
    Index("ix_eval_live_scope", "tenant", "collection", "created_at"),
    Index("ix_eval_live_status", "status"),
)
alerts = Table(
    "eval_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("collection", String, nullable=False),
    Column("metric", String, nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("notified", String, nullable=True),  # webhook outcome
    Index("ix_eval_alerts_scope", "tenant", "collection"),
)


class LiveTables:
    """Live samples and alerts, on the metadata store that the class mixing it in holds (`self.metadata`)."""

    metadata: Any  # the SqlMetadataStore whose transactions these queries use

    def _tx(self) -> Any:
        return self.metadata.session()

    def add_live(self, samples: list[dict[str, Any]]) -> None:
        if samples:
            with self._tx() as s:
                s.execute(
                    insert(live),
                    [{**x, "status": "pending", "created_at": x.get("created_at") or _now()} for x in samples],
                )

    def pending_live(self, limit: int) -> list[dict[str, Any]]:
        q = select(live).where(live.c.status == "pending").order_by(live.c.id).limit(limit)
        with self._tx() as s:
            return [dict(r) for r in s.execute(q).mappings().all()]

    def score_live(
        self, sample_id: int, faithfulness: float | None, judge: str, error: str | None, status: str | None = None
    ) -> None:
        """Record a sample's outcome: scored, failed (judge fault, with the reason) or skipped (nothing to judge)."""
        values = {
            "status": status or ("failed" if faithfulness is None else "scored"),
            "faithfulness": faithfulness,
            "judge": judge,
            "error": error,
            "scored_at": _now(),
        }
        with self._tx() as s:
            s.execute(update(live).where(live.c.id == sample_id).values(**values))

    def live_rows(self, tenant: str, collection: str | None, since: datetime | None) -> list[dict[str, Any]]:
        q = select(live).where(live.c.tenant == tenant)
        if collection:
            q = q.where(live.c.collection == collection)
        if since is not None:
            q = q.where(live.c.created_at >= since)
        with self._tx() as s:
            return [dict(r) for r in s.execute(q.order_by(live.c.id)).mappings().all()]

    def recent_faithfulness(self, tenant: str, collection: str, limit: int) -> list[float]:
        """The faithfulness of the last `limit` scored samples of a collection, oldest first."""
        q = (
            select(live.c.faithfulness)
            .where(live.c.tenant == tenant, live.c.collection == collection, live.c.status == "scored")
            .order_by(live.c.id.desc())
            .limit(limit)
        )
        with self._tx() as s:
            return [float(v) for v in reversed(s.execute(q).scalars().all())]

    def open_alert(self, tenant: str, collection: str, metric: str) -> dict[str, Any] | None:
        q = select(alerts).where(
            alerts.c.tenant == tenant,
            alerts.c.collection == collection,
            alerts.c.metric == metric,
            alerts.c.closed_at.is_(None),
        )
        with self._tx() as s:
            row = s.execute(q).mappings().first()
        return dict(row) if row else None

    def raise_alert(self, tenant: str, collection: str, metric: str, value: float, threshold: float) -> int:
        with self._tx() as s:
            res = s.execute(
                insert(alerts).values(
                    tenant=tenant,
                    collection=collection,
                    metric=metric,
                    value=value,
                    threshold=threshold,
                    opened_at=_now(),
                )
            )
            return int(res.inserted_primary_key[0])

    def note_alert(self, alert_id: int, notified: str) -> None:
        with self._tx() as s:
            s.execute(update(alerts).where(alerts.c.id == alert_id).values(notified=notified[:500]))

    def close_alert(self, alert_id: int) -> None:
        with self._tx() as s:
            s.execute(update(alerts).where(alerts.c.id == alert_id).values(closed_at=_now()))

    def list_alerts(self, tenant: str, collection: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = select(alerts).where(alerts.c.tenant == tenant)
        if collection:
            q = q.where(alerts.c.collection == collection)
        with self._tx() as s:
            rows = s.execute(q.order_by(alerts.c.id.desc()).limit(limit)).mappings().all()
        return [
            {
                "id": r["id"],
                "collection": r["collection"],
                "metric": r["metric"],
                "value": r["value"],
                "threshold": r["threshold"],
                "opened_at": _iso(r["opened_at"]),
                "closed_at": _iso(r["closed_at"]),
                "notified": r["notified"],
            }
            for r in rows
        ]
