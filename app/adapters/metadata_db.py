"""Metadata store on SQLAlchemy 2: collections, documents and jobs in SQLite or PostgreSQL.

With metadata_models.py, the only modules that import SQLAlchemy. Every public call opens a short session and
commits it, so the API thread and the job threads can share one store.

Example:
    store = SqlMetadataStore("sqlite:///data/grounded.db")
    store.create_collection("acme", "handbook", template="general")
    job = store.create_job({"id": "j1", "tenant": "acme", "collection": "handbook", "status": "queued",
                            "files": [], "payload": {}})
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from app.adapters.metadata_jobs import JobRecords
from app.adapters.metadata_models import (  # noqa: F401  (JOB_* are part of this module's API)
    _DOC_FIELDS,
    _SQLITE_BUSY_TIMEOUT_MS,
    JOB_KEYS,
    JOB_REQUIRED,
    JOB_TIMES,
    JOB_UPDATABLE,
    Base,
    CollectionRow,
    DocumentRow,
    JobRow,
    JSONDict,
    JSONList,
    _collection,
    _document,
    _iso,
    _job,
    _job_value,
    _now,
    _utc,
)
from app.core.domain import Document
from app.core.errors import ConflictError, NotFoundError, StoreError


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, emit BEGIN (see _on_sqlite_begin), then enable WAL and a busy wait.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def _on_sqlite_begin(conn: Any) -> None:
    # A deferred transaction that reads and then writes cannot wait for a lock in WAL mode (SQLITE_BUSY at once);
    # taking the write lock up front makes concurrent writers queue on the busy timeout instead.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _make_engine(url: str) -> tuple[Engine, bool]:
    """Build the engine; returns it and whether it is a single shared in-memory SQLite connection."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True), False
    memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool  # one connection, or every session would see its own empty database
    else:
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine, memory


class SqlMetadataStore(JobRecords):
    """`MetadataStore` on SQLAlchemy: SQLite (a file, WAL) or PostgreSQL (psycopg 3).

    Args:
        url: SQLAlchemy URL; plain `postgresql://` is read as `postgresql+psycopg://`.

    Raises:
        StoreError: the database cannot be opened or the schema cannot be created.
    """

    def __init__(self, url: str) -> None:
        try:
            self._engine, shared = _make_engine(url)
        except (SQLAlchemyError, OSError, ValueError) as e:
            raise StoreError(f"cannot open metadata store {url!r}: {e}") from e
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        # An in-memory SQLite database is one shared connection: serialise its transactions in-process.
        self._lock: contextlib.AbstractContextManager[Any] = threading.Lock() if shared else contextlib.nullcontext()
        self.ensure_schema()

    def ensure_schema(self) -> None:
        """Create the tables and indexes that do not exist yet."""
        try:
            Base.metadata.create_all(self._engine)
            self._add_missing_columns()
        except SQLAlchemyError as e:
            raise StoreError(f"cannot create metadata schema: {e}") from e

    def _add_missing_columns(self) -> None:
        """Columns added after a database was created (create_all never alters a table)."""
        from sqlalchemy import inspect, text

        added = {
            ("collections", "embedder"): "VARCHAR NOT NULL DEFAULT 'default'",
            ("collections", "metadata_schema"): "JSON",
            ("documents", "source_path"): "VARCHAR NOT NULL DEFAULT ''",
        }
        inspector = inspect(self._engine)
        existing = {t: {c["name"] for c in inspector.get_columns(t)} for t in {t for t, _ in added}}
        for (table, column), ddl in added.items():
            if column not in existing[table]:
                with self._engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def session(self, conflict: str | None = None) -> contextlib.AbstractContextManager[Session]:
        """One committed transaction for adapters that keep their own tables in this database (keys, audit)."""
        return self._session(conflict)

    @contextlib.contextmanager
    def _session(self, conflict: str | None = None) -> Iterator[Session]:
        """One committed transaction; SQLAlchemy errors become StoreError (or ConflictError when `conflict`)."""
        with self._lock:
            try:
                with self._sessions.begin() as s:
                    yield s
            except IntegrityError as e:
                if conflict is None:
                    raise StoreError(f"metadata store: {e}") from e
                raise ConflictError(conflict) from e
            except SQLAlchemyError as e:
                raise StoreError(f"metadata store: {e}") from e

    # -- collections -------------------------------------------------------------------------------------------

    def create_collection(
        self,
        tenant: str,
        name: str,
        template: str,
        description: str = "",
        embedder: str = "default",
        metadata_schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a collection. Raises ConflictError when the tenant already has one of that name."""
        with self._session(conflict=f"collection already exists: {name}") as s:
            row = CollectionRow(
                tenant=tenant,
                name=name,
                template=template,
                description=description,
                embedder=embedder,
                metadata_schema=metadata_schema,
                created_at=_now(),
            )
            s.add(row)
            s.flush()
            return _collection(row, 0)

    def get_collection(self, tenant: str, name: str) -> dict[str, Any]:
        """The collection with its document count. Raises NotFoundError("collection", name)."""
        with self._session() as s:
            row = self._collection_row(s, tenant, name)
            return _collection(row, self._count_documents(s, tenant, name)[name])

    def list_collections(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's collections, by name."""
        with self._session() as s:
            rows = s.scalars(select(CollectionRow).where(CollectionRow.tenant == tenant).order_by(CollectionRow.name))
            counts = self._count_documents(s, tenant)
            return [_collection(r, counts[r.name]) for r in rows]

    def delete_collection(self, tenant: str, name: str) -> None:
        """Delete a collection and its document rows. Raises NotFoundError("collection", name)."""
        with self._session() as s:
            row = self._collection_row(s, tenant, name)
            s.execute(delete(DocumentRow).where(DocumentRow.tenant == tenant, DocumentRow.collection == name))
            s.delete(row)

    def update_collection(self, tenant: str, name: str, **fields: Any) -> dict[str, Any]:
        """Change `template`, `description` or `metadata_schema`. Raises NotFoundError("collection", name)."""
        unknown = fields.keys() - {"template", "description", "metadata_schema"}
        if unknown:
            raise ValueError(f"update_collection: unknown fields {sorted(unknown)}")
        with self._session() as s:
            row = self._collection_row(s, tenant, name)
            for key, value in fields.items():
                setattr(row, key, value)
            s.flush()
            return _collection(row, self._count_documents(s, tenant, name)[name])

    @staticmethod
    def _collection_row(s: Session, tenant: str, name: str) -> CollectionRow:
        row = s.scalars(select(CollectionRow).filter_by(tenant=tenant, name=name)).first()
        if row is None:
            raise NotFoundError("collection", name)
        return row

    @staticmethod
    def _count_documents(s: Session, tenant: str, name: str | None = None) -> Counter[str]:
        """Document rows per collection of the tenant (of one collection when `name`)."""
        stmt = select(DocumentRow.collection, func.count()).where(DocumentRow.tenant == tenant)
        if name is not None:
            stmt = stmt.where(DocumentRow.collection == name)
        return Counter(dict(s.execute(stmt.group_by(DocumentRow.collection)).tuples().all()))

    # -- documents ---------------------------------------------------------------------------------------------

    def upsert_document(self, doc: Document) -> Document:
        """Insert or update a document by id; keeps the first created_at and sets updated_at.

        Raises:
            ConflictError: the id is taken by a document of another tenant.
        """
        now = _now()
        with self._session(conflict=f"document already exists: {doc.id}") as s:
            row = s.get(DocumentRow, doc.id)
            if row is None:
                row = DocumentRow(id=doc.id, tenant=doc.tenant, created_at=_utc(doc.created_at) or now)
                s.add(row)
            elif row.tenant != doc.tenant:
                raise ConflictError(f"document id {doc.id} belongs to another tenant")
            for f in _DOC_FIELDS:
                setattr(row, f, getattr(doc, f))
            row.meta = dict(doc.metadata)
            row.acl_groups = list(doc.acl_groups)
            row.updated_at = now
            s.flush()
            return replace(doc, created_at=_iso(row.created_at) or "", updated_at=_iso(now) or "")

    def get_document(self, tenant: str, document_id: str) -> Document:
        """The tenant's document. Raises NotFoundError("document", id), also for another tenant's document."""
        doc = self.find_document(tenant, document_id)
        if doc is None:
            raise NotFoundError("document", document_id)
        return doc

    def find_document(self, tenant: str, document_id: str) -> Document | None:
        """The tenant's document, or None."""
        with self._session() as s:
            row = s.get(DocumentRow, document_id)
            return _document(row) if row is not None and row.tenant == tenant else None

    def list_documents(self, tenant: str, collection: str, limit: int = 100, offset: int = 0) -> list[Document]:
        """A page of a collection's documents, oldest first (ties by id)."""
        stmt = (
            select(DocumentRow)
            .filter_by(tenant=tenant, collection=collection)
            .order_by(DocumentRow.created_at, DocumentRow.id)
            .limit(limit)
            .offset(offset)
        )
        with self._session() as s:
            return [_document(r) for r in s.scalars(stmt)]

    def count_documents_by_source(self, source_path: str) -> int:
        """How many documents (of any tenant) were indexed from this stored original."""
        stmt = select(func.count()).select_from(DocumentRow).where(DocumentRow.source_path == source_path)
        with self._session() as s:
            return int(s.scalar(stmt) or 0)

    def delete_document(self, tenant: str, document_id: str) -> None:
        """Delete the tenant's document. Raises NotFoundError("document", id)."""
        with self._session() as s:
            row = s.get(DocumentRow, document_id)
            if row is None or row.tenant != tenant:
                raise NotFoundError("document", document_id)
            s.delete(row)
