"""Audit log: append-only, hash-chained records of data operations and admin actions, in SQLite or PostgreSQL.

Each record's `hash` is SHA-256 (HMAC-SHA-256 when a key is given) over a canonical JSON of the record, which includes
its id and the previous record's hash. Ids are gapless (assigned as last id + 1 under a lock), so `verify()` finds a
modified record (hash mismatch), a deleted one (gap or broken chain) and reordered ones (the id is hashed). Without a
key, someone with write access to the database can rebuild the whole chain; with a key kept outside the database they
cannot. Deleting the newest records is only visible against an anchor kept elsewhere (`head()`).

Example:
    log = AuditLog("sqlite:///data/grounded.db", key=None)
    log.append("key:k1", "acme", "document.delete", "doc-42", "ok", {"collection": "handbook"})
    assert log.verify().ok
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Integer, MetaData, String, Table, event, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.adapters.metadata_db import _make_engine, _on_sqlite_begin
from app.adapters.metadata_models import _now, _utc
from app.core.errors import StoreError

OUTCOMES = ("ok", "denied", "error")
GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6772_6E64_6175_6474  # "grndaudt": the advisory lock that serialises appends on PostgreSQL
_HASHED = ("id", "ts", "actor", "tenant", "action", "target", "outcome", "details", "prev_hash")
_RETRIES = 5

_metadata = MetaData()
audit_table = Table(
    "audit_log",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # gapless: last id + 1, taken under the lock
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("actor", String, nullable=False),
    Column("tenant", String, nullable=False),
    Column("action", String, nullable=False),
    Column("target", String, nullable=False),
    Column("outcome", String, nullable=False),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_tenant_ts", "tenant", "ts"),
    Index("ix_audit_log_action", "action"),
)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `AuditLog.verify`: `first_bad_id` is the first modified, missing or misplaced record."""

    ok: bool
    records: int
    first_bad_id: int | None = None
    reason: str | None = None


class AuditLog:
    """Append-only audit trail in the table `audit_log` (created on first use).

    Args:
        engine_or_url: a SQLAlchemy URL (plain `postgresql://` means psycopg 3), or an Engine; a SQLite Engine must
            come from `metadata_db._make_engine` (it needs BEGIN IMMEDIATE to serialise writers).
        key: HMAC key; records written with a key only verify with the same key.

    Raises:
        StoreError: the database cannot be opened or the table cannot be created.
    """

    def __init__(self, engine_or_url: Engine | str, key: bytes | None = None) -> None:
        shared = False
        try:
            if isinstance(engine_or_url, Engine):
                self._engine = engine_or_url
                self._owns_engine = False
            else:
                self._engine, shared = _make_engine(engine_or_url)
                self._owns_engine = True
            self._sqlite = self._engine.dialect.name == "sqlite"
            if self._sqlite and not event.contains(self._engine, "begin", _on_sqlite_begin):
                raise ValueError("a SQLite engine for AuditLog must come from metadata_db._make_engine, or pass a URL")
            _metadata.create_all(self._engine)
        except (SQLAlchemyError, OSError) as e:
            raise StoreError(f"cannot open audit log: {e}") from e
        self._key = key
        self._lock: contextlib.AbstractContextManager[Any] = threading.Lock() if shared else contextlib.nullcontext()

    def close(self) -> None:
        """Close the pooled connections of an engine this log created."""
        if self._owns_engine:
            self._engine.dispose()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._lock:
            try:
                with self._engine.begin() as conn:
                    yield conn
            except IntegrityError:
                raise  # append retries a duplicate id
            except SQLAlchemyError as e:
                raise StoreError(f"audit log: {e}") from e

    def append(
        self, actor: str, tenant: str, action: str, target: str, outcome: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Add one record at the end of the chain and return it (with id, ts, prev_hash and hash).

        Safe under concurrent writers in several processes: BEGIN IMMEDIATE on SQLite, a transaction-scoped advisory
        lock on PostgreSQL; a duplicate id (a backend without either) is retried.

        Raises:
            ValueError: unknown outcome, or details that are not JSON (NaN included).
            StoreError: the database failed.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r}; valid: {', '.join(OUTCOMES)}")
        # Stored exactly as hashed: tuples become lists, other objects their str().
        clean = json.loads(json.dumps(details or {}, default=str, allow_nan=False))
        fields = {"actor": actor, "tenant": tenant, "action": action, "target": target, "outcome": outcome}
        for attempt in range(_RETRIES):
            try:
                with self._tx() as conn:
                    if self._engine.dialect.name == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                    last = conn.execute(
                        select(audit_table.c.id, audit_table.c.hash).order_by(audit_table.c.id.desc()).limit(1)
                    ).first()
                    record = {"id": last.id + 1 if last else 1, "ts": _now(), **fields, "details": clean}
                    record["prev_hash"] = last.hash if last else GENESIS
                    record["hash"] = self._hash(record)
                    conn.execute(audit_table.insert().values(**record))
                    return _out(record)
            except IntegrityError as e:
                if attempt == _RETRIES - 1:
                    raise StoreError(f"audit log: cannot append after {_RETRIES} tries: {e}") from e
        raise AssertionError("unreachable")

    def query(
        self,
        tenant: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Records matching every given filter, newest first; `since` is inclusive, `until` exclusive."""
        if not 1 <= limit <= 10_000 or offset < 0:
            raise ValueError("limit must be 1..10000 and offset >= 0")
        c = audit_table.c
        stmt = select(audit_table)
        for column, value in ((c.tenant, tenant), (c.action, action), (c.actor, actor)):
            if value is not None:
                stmt = stmt.where(column == value)
        if since:
            stmt = stmt.where(c.ts >= _utc(since))
        if until:
            stmt = stmt.where(c.ts < _utc(until))
        with self._tx() as conn:
            rows = conn.execute(stmt.order_by(c.id.desc()).limit(limit).offset(offset)).mappings().all()
        return [_out(dict(r)) for r in rows]

    def head(self) -> tuple[int, str]:
        """Id and hash of the newest record ((0, GENESIS) when empty): an anchor to keep outside the database."""
        with self._tx() as conn:
            last = conn.execute(
                select(audit_table.c.id, audit_table.c.hash).order_by(audit_table.c.id.desc()).limit(1)
            ).first()
        return (last.id, last.hash) if last else (0, GENESIS)

    def verify(self, batch: int = 1000) -> VerifyResult:
        """Walk the chain from id 1 and stop at the first record that was modified, removed or moved."""
        expected_id, prev, count = 1, GENESIS, 0
        c = audit_table.c
        while True:
            with self._tx() as conn:
                stmt = select(audit_table).where(c.id >= expected_id).order_by(c.id).limit(batch)
                rows = conn.execute(stmt).mappings().all()
            if not rows:
                return VerifyResult(True, count)
            for row in rows:
                record = dict(row)
                if record["id"] != expected_id:
                    reason = f"record {expected_id} is missing (the next one is {record['id']})"
                    return VerifyResult(False, count, expected_id, reason)
                if record["prev_hash"] != prev:
                    return VerifyResult(False, count, expected_id, "prev_hash does not match the previous record")
                if not hmac.compare_digest(record["hash"], self._hash(record)):
                    reason = "hash mismatch: the record was modified" + (" (or the key is wrong)" if self._key else "")
                    return VerifyResult(False, count, expected_id, reason)
                prev, expected_id, count = record["hash"], expected_id + 1, count + 1

    def _hash(self, record: dict[str, Any]) -> str:
        data = {k: record[k] for k in _HASHED} | {"ts": _ts(record["ts"])}
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if self._key:
            return hmac.new(self._key, canonical, hashlib.sha256).hexdigest()
        return hashlib.sha256(canonical).hexdigest()


def _ts(value: datetime | str) -> str:
    dt = _utc(value)
    assert dt is not None
    return dt.isoformat(timespec="microseconds")


def _out(record: dict[str, Any]) -> dict[str, Any]:
    return record | {"ts": _ts(record["ts"])}
