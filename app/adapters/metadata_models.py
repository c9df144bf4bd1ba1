"""SQLAlchemy models of the metadata store and their conversion to domain values (used by metadata_db only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.domain import Document

JOB_KEYS = ("id", "tenant", "collection", "status", "stage", "files", "counts", "payload", "error")
JOB_TIMES = ("created_at", "updated_at", "started_at", "finished_at")
JOB_REQUIRED = frozenset({"id", "tenant", "collection", "status", "files", "payload"})
JOB_UPDATABLE = frozenset({"status", "stage", "files", "counts", "payload", "error", "started_at", "finished_at"})
# Document fields stored as plain columns under the same name (metadata, acl_groups and timestamps need converting).
_DOC_FIELDS = (
    "collection", "external_id", "filename", "file_type", "content_hash", "status", "title", "size_bytes",
    "chunk_count", "template", "error", "source_path",
)  # fmt: skip
_SQLITE_BUSY_TIMEOUT_MS = 30_000
JSONDict = dict[str, Any]
JSONList = list[Any]


class Base(DeclarativeBase):
    # Unbounded String and the generic JSON type behave the same on SQLite and PostgreSQL.
    type_annotation_map = {datetime: DateTime(timezone=True), JSONDict: JSON, JSONList: JSON}


class CollectionRow(Base):
    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_collections_tenant_name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant: Mapped[str]
    name: Mapped[str]
    template: Mapped[str]
    description: Mapped[str]
    created_at: Mapped[datetime]
    embedder: Mapped[str] = mapped_column(default="default", server_default="default")
    metadata_schema: Mapped[JSONDict | None] = mapped_column(default=None, nullable=True)


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_tenant_collection", "tenant", "collection"),)

    id: Mapped[str] = mapped_column(primary_key=True)
    tenant: Mapped[str]
    collection: Mapped[str]
    external_id: Mapped[str]
    filename: Mapped[str]
    file_type: Mapped[str]
    content_hash: Mapped[str]
    status: Mapped[str]
    title: Mapped[str]
    size_bytes: Mapped[int]
    chunk_count: Mapped[int]
    template: Mapped[str]
    meta: Mapped[JSONDict] = mapped_column("metadata")  # `metadata` is reserved on declarative classes
    acl_groups: Mapped[JSONList]
    error: Mapped[str | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    source_path: Mapped[str] = mapped_column(default="", server_default="")  # the stored original


class KeyRow(Base):
    """An API key: only a SHA-256 of its secret is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant", "tenant"),)

    id: Mapped[str] = mapped_column(primary_key=True)  # the public part of the key, used to look it up
    secret_hash: Mapped[str]
    role: Mapped[str]
    tenant: Mapped[str]
    groups: Mapped[JSONList]
    name: Mapped[str]
    created_at: Mapped[datetime]
    created_by: Mapped[str]
    revoked_at: Mapped[datetime | None]


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status", "status"),)

    id: Mapped[str] = mapped_column(primary_key=True)
    tenant: Mapped[str]
    collection: Mapped[str]
    status: Mapped[str]
    stage: Mapped[str]
    files: Mapped[JSONList]
    counts: Mapped[JSONDict]
    payload: Mapped[JSONDict]
    error: Mapped[str | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | str | None) -> datetime | None:
    """A datetime or ISO-8601 string as an aware UTC datetime; naive values (SQLite gives those back) are UTC."""
    if not value:
        return None
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    dt = _utc(value)
    return dt.isoformat() if dt else None


def _job_value(key: str, value: Any) -> Any:
    """One job field as stored: timestamps as UTC datetimes, enums (JobStatus, Stage) as plain strings."""
    if key in JOB_TIMES:
        return _utc(value)
    return str(value) if key in ("status", "stage") and value is not None else value


def _collection(row: CollectionRow, document_count: int) -> dict[str, Any]:
    out = {k: getattr(row, k) for k in ("name", "tenant", "template", "description", "embedder", "metadata_schema")}
    return out | {"created_at": _iso(row.created_at), "document_count": document_count}


def _document(row: DocumentRow) -> Document:
    return Document(
        id=row.id,
        tenant=row.tenant,
        **{f: getattr(row, f) for f in _DOC_FIELDS},
        metadata=dict(row.meta or {}),
        acl_groups=tuple(row.acl_groups or ()),
        created_at=_iso(row.created_at) or "",
        updated_at=_iso(row.updated_at) or "",
    )


def _job(row: JobRow) -> dict[str, Any]:
    job: dict[str, Any] = {k: getattr(row, k) for k in JOB_KEYS}
    job.update({k: _iso(getattr(row, k)) for k in JOB_TIMES})
    return job
