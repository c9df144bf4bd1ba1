"""FAQ entries and their versions in the metadata database (SQLite or PostgreSQL), on the metadata store's engine.

Two tables: `faq_entries` (the current state) and `faq_versions` (one row per change: a full snapshot, so any
version can be restored). Every change bumps `version` with a compare-and-set (`... WHERE version = :seen`), so two
concurrent edits cannot both win; a caller's `expected_version` that is not the current one is a ConflictError.
A question is unique per tenant and collection among live entries: `question_key` (a hash of the normalised
question) has a unique constraint and is NULL on deleted entries. Hits are counted with `hits = hits + 1`.
The table definitions and row mapping are in tables.py (re-exported here).

Example:
    store = SqlFaqStore(metadata_store)
    entry = store.create("acme", "hr", fields, actor="key1")
    store.update("acme", entry["id"], fields2, actor="key1", expected_version=1)  # → version 2
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.adapters.metadata_db import SqlMetadataStore
from app.adapters.metadata_models import _iso, _now
from app.core.errors import ConflictError, NotFoundError
from app.faq.importing import EntryFields
from app.faq.tables import (
    CHANGE_KINDS,
    _check_version,
    _content,
    _differs,
    _metadata,
    _out,
    _snapshot,
    _version_out,
    entries,
    question_key,
    versions,
)

__all__ = ["CHANGE_KINDS", "Entries", "SqlFaqStore", "entries", "question_key", "versions"]

Entries = list[dict[str, Any]]


class SqlFaqStore:
    """Tenant-scoped storage of FAQ entries; every read and write names the tenant (other tenants' ids: not found).

    Args:
        metadata: the metadata store whose database (and transactions) this store shares.

    Raises:
        StoreError: the tables cannot be created.
    """

    def __init__(self, metadata: SqlMetadataStore) -> None:
        self.metadata = metadata
        with metadata.session() as s:
            _metadata.create_all(s.connection())

    def _tx(self, conflict: str | None = None) -> Any:
        return self.metadata.session(conflict)

    # -- reads -------------------------------------------------------------------------------------------------

    def get(self, tenant: str, entry_id: str, include_deleted: bool = False) -> dict[str, Any]:
        with self._tx() as s:
            return _out(self._row(s, tenant, entry_id, include_deleted))

    def list(
        self, tenant: str, collection: str, limit: int = 100, offset: int = 0, include_deleted: bool = False
    ) -> tuple[Entries, int]:
        """A page of entries (oldest first) and the total count."""
        where = [entries.c.tenant == tenant, entries.c.collection == collection]
        if not include_deleted:
            where.append(entries.c.deleted.is_(False))
        with self._tx() as s:
            total = s.execute(select(func.count()).select_from(entries).where(*where)).scalar_one()
            stmt = select(entries).where(*where).order_by(entries.c.created_at, entries.c.id).limit(limit)
            rows = s.execute(stmt.offset(offset)).mappings().all()
        return [_out(r) for r in rows], int(total)

    def active_entries(self, tenant: str, collection: str) -> Entries:
        """The entries that can match: active and not deleted."""
        stmt = select(entries).where(
            entries.c.tenant == tenant,
            entries.c.collection == collection,
            entries.c.deleted.is_(False),
            entries.c.active.is_(True),
        )
        with self._tx() as s:
            return [_out(r) for r in s.execute(stmt.order_by(entries.c.id)).mappings()]

    def fingerprint(self, tenant: str, collection: str) -> tuple[int, int, str | None]:
        """Changes whenever an entry of the collection does (count, sum of versions, last update): one cheap
        aggregate that tells a cached index from another process's write."""
        stmt = select(func.count(), func.coalesce(func.sum(entries.c.version), 0), func.max(entries.c.updated_at))
        stmt = stmt.where(entries.c.tenant == tenant, entries.c.collection == collection)
        with self._tx() as s:
            count, total, last = s.execute(stmt).one()
        return int(count), int(total), _iso(last) if isinstance(last, datetime) else (str(last) if last else None)

    def versions(self, tenant: str, entry_id: str) -> Entries:
        """Every version of an entry (deleted ones too), oldest first."""
        with self._tx() as s:
            self._row(s, tenant, entry_id, include_deleted=True)
            stmt = select(versions).where(versions.c.entry_id == entry_id).order_by(versions.c.version)
            return [_version_out(r) for r in s.execute(stmt).mappings()]

    # -- writes ------------------------------------------------------------------------------------------------

    def create(
        self, tenant: str, collection: str, fields: EntryFields, actor: str, kind: str = "create"
    ) -> dict[str, Any]:
        """A new entry at version 1. Raises ConflictError when a live entry has the same question."""
        with self._tx(conflict=f"an entry with this question already exists in {collection!r}") as s:
            return self._insert(s, tenant, collection, fields, actor, kind)

    def update(
        self,
        tenant: str,
        entry_id: str,
        fields: EntryFields,
        actor: str,
        expected_version: int | None = None,
        kind: str = "update",
        include_deleted: bool = False,
    ) -> dict[str, Any]:
        """Replace the entry's content; the version goes up by one (also when nothing changed: it is an edit).

        Raises:
            NotFoundError: no such live entry for this tenant.
            ConflictError: `expected_version` is not the current version, a concurrent edit won, or another live
                entry has the same question.
        """
        with self._tx(conflict="another entry with this question already exists in the collection") as s:
            row = self._row(s, tenant, entry_id, include_deleted, lock=True)
            _check_version(row, expected_version)
            return self._write(s, row, _content(fields), actor, kind)

    def delete(self, tenant: str, entry_id: str, actor: str, expected_version: int | None = None) -> dict[str, Any]:
        """Soft delete: the entry stops matching and listing; its history stays and a version can be restored."""
        with self._tx() as s:
            row = self._row(s, tenant, entry_id, lock=True)
            _check_version(row, expected_version)
            return self._write(s, row, {"question_key": None, "deleted": True}, actor, "delete")

    def restore(
        self, tenant: str, entry_id: str, version: int, actor: str, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Make an earlier version's content current again, as a new version (a deleted entry comes back)."""
        with self._tx(conflict="another live entry has the restored version's question") as s:
            row = self._row(s, tenant, entry_id, include_deleted=True, lock=True)
            _check_version(row, expected_version)
            old = (
                s.execute(select(versions).where(versions.c.entry_id == entry_id, versions.c.version == version))
                .mappings()
                .first()
            )
            if old is None:
                raise NotFoundError("faq version", f"{entry_id} v{version}")
            fields = EntryFields(
                old["question"], old["answer"], tuple(old["alt_questions"]), tuple(old["tags"]), old["active"]
            )
            return self._write(s, row, _content(fields), actor, "restore")

    def apply_import(
        self,
        tenant: str,
        collection: str,
        rows: Sequence[EntryFields],
        actor: str,
        replace: bool = False,
    ) -> dict[str, Any]:
        """Upsert rows by question in one transaction (all or nothing); with `replace`, delete the live entries the
        rows do not name. Returns counts and the ids written."""
        counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
        ids: list[str] = []
        with self._tx(conflict="a concurrent change to the same questions; retry the import") as s:
            live = s.execute(
                select(entries).where(
                    entries.c.tenant == tenant, entries.c.collection == collection, entries.c.deleted.is_(False)
                )
            ).mappings()
            by_key = {r["question_key"]: r for r in live}
            seen: set[str] = set()
            for fields in rows:
                key = question_key(fields.question)
                seen.add(key)
                row = by_key.get(key)
                if row is None:
                    ids.append(self._insert(s, tenant, collection, fields, actor, "import")["id"])
                    counts["created"] += 1
                elif _differs(row, _content(fields)):
                    ids.append(self._write(s, row, _content(fields), actor, "import")["id"])
                    counts["updated"] += 1
                else:
                    ids.append(row["id"])
                    counts["unchanged"] += 1
            if replace:
                for key, row in by_key.items():
                    if key not in seen:
                        self._write(s, row, {"question_key": None, "deleted": True}, actor, "delete")
                        counts["deleted"] += 1
        return counts | {"ids": ids}

    def record_hit(self, entry_id: str) -> bool:
        """Count one served answer, atomically; False when the entry does not exist (any more)."""
        stmt = update(entries).where(entries.c.id == entry_id).values(hits=entries.c.hits + 1, last_hit_at=_now())
        with self._tx() as s:
            return bool(getattr(s.execute(stmt), "rowcount", 0))

    def purge_collection(self, tenant: str, collection: str) -> int:
        """Remove a collection's entries and their history for good (the collection is being deleted)."""
        where = (entries.c.tenant == tenant, entries.c.collection == collection)
        with self._tx() as s:
            ids = [r[0] for r in s.execute(select(entries.c.id).where(*where))]
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                s.execute(delete(versions).where(versions.c.entry_id.in_(chunk)))
            s.execute(delete(entries).where(*where))
        return len(ids)

    # -- internals ---------------------------------------------------------------------------------------------

    @staticmethod
    def _row(s: Session, tenant: str, entry_id: str, include_deleted: bool = False, lock: bool = False) -> Any:
        stmt = select(entries).where(entries.c.id == entry_id, entries.c.tenant == tenant)
        if lock and s.get_bind().dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE already serialises
            stmt = stmt.with_for_update()
        row = s.execute(stmt).mappings().first()
        if row is None or (row["deleted"] and not include_deleted):
            raise NotFoundError("faq entry", entry_id)
        return row

    @staticmethod
    def _insert(s: Session, tenant: str, collection: str, fields: EntryFields, actor: str, kind: str) -> dict[str, Any]:
        now = _now()
        row = {"id": str(uuid.uuid4()), "tenant": tenant, "collection": collection} | _content(fields)
        row |= {"version": 1, "hits": 0, "last_hit_at": None, "created_at": now, "updated_at": now}
        row |= {"created_by": actor, "updated_by": actor}
        s.execute(insert(entries).values(**row))
        _snapshot(s, row, kind, actor, now)
        return _out(row)

    @staticmethod
    def _write(s: Session, row: Any, changes: dict[str, Any], actor: str, kind: str) -> dict[str, Any]:
        now = _now()
        values = changes | {"version": row["version"] + 1, "updated_at": now, "updated_by": actor}
        done = s.execute(
            update(entries).where(entries.c.id == row["id"], entries.c.version == row["version"]).values(**values)
        )
        if getattr(done, "rowcount", 0) != 1:
            raise ConflictError(f"faq entry {row['id']} was changed concurrently; reload it and retry")
        new = dict(row) | values
        _snapshot(s, new, kind, actor, now)
        return _out(new)
