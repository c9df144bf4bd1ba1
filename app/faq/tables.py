"""The FAQ tables and their rows: `faq_entries` and `faq_versions`, and the mapping between rows and the dicts
`SqlFaqStore` (store.py) returns.

Also the row-level helpers the store's writes share: the unique `question_key`, an entry's content columns, the
version check, and the snapshot written to `faq_versions` on every change.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
)
from sqlalchemy.orm import Session

from app.adapters.metadata_models import _iso
from app.core.errors import ConflictError, StoreError
from app.faq.importing import EntryFields, question_identity

_metadata = MetaData()
entries = Table(
    "faq_entries",
    _metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String, nullable=False),
    Column("collection", String, nullable=False),
    Column("question", String, nullable=False),
    Column("question_key", String(64), nullable=True),  # NULL once deleted: the unique constraint skips NULLs
    Column("answer", String, nullable=False),
    Column("alt_questions", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("hits", Integer, nullable=False),
    Column("last_hit_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String, nullable=False),
    Column("updated_by", String, nullable=False),
    UniqueConstraint("tenant", "collection", "question_key", name="uq_faq_entries_question"),
    Index("ix_faq_entries_tenant_collection", "tenant", "collection"),
)
versions = Table(
    "faq_versions",
    _metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("collection", String, nullable=False),
    Column("kind", String, nullable=False),  # create | update | delete | restore | import
    Column("question", String, nullable=False),
    Column("answer", String, nullable=False),
    Column("alt_questions", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("changed_by", String, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
CHANGE_KINDS = ("create", "update", "delete", "restore", "import")
_CONTENT = ("question", "answer", "alt_questions", "tags", "active", "deleted")


def question_key(question: str) -> str:
    """The unique key of a live question (a hash: questions may be longer than an index entry may be)."""
    return hashlib.sha256(question_identity(question).encode("utf-8")).hexdigest()


def _content(fields: EntryFields, deleted: bool = False) -> dict[str, Any]:
    return {
        "question": fields.question,
        "question_key": None if deleted else question_key(fields.question),
        "answer": fields.answer,
        "alt_questions": list(fields.alt_questions),
        "tags": list(fields.tags),
        "active": fields.active,
        "deleted": deleted,
    }


def _check_version(row: Any, expected: int | None) -> None:
    if expected is not None and expected != row["version"]:
        raise ConflictError(
            f"faq entry {row['id']} is at version {row['version']}, not {expected}; reload it and retry"
        )


def _differs(row: Any, content: dict[str, Any]) -> bool:
    return any(row[k] != content[k] for k in _CONTENT)


def _snapshot(s: Session, row: dict[str, Any], kind: str, actor: str, at: datetime) -> None:
    if kind not in CHANGE_KINDS:
        raise StoreError(f"unknown faq change kind {kind!r}")
    s.execute(
        insert(versions).values(
            entry_id=row["id"],
            version=row["version"],
            tenant=row["tenant"],
            collection=row["collection"],
            kind=kind,
            changed_by=actor,
            changed_at=at,
            **{k: row[k] for k in _CONTENT},
        )
    )


def _out(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "collection": row["collection"],
        "question": row["question"],
        "answer": row["answer"],
        "alt_questions": list(row["alt_questions"] or []),
        "tags": list(row["tags"] or []),
        "active": bool(row["active"]),
        "deleted": bool(row["deleted"]),
        "version": row["version"],
        "hits": row["hits"],
        "last_hit_at": _iso(row["last_hit_at"]),
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "created_by": row["created_by"],
        "updated_by": row["updated_by"],
    }


def _version_out(row: Any) -> dict[str, Any]:
    return {
        "version": row["version"],
        "kind": row["kind"],
        "question": row["question"],
        "answer": row["answer"],
        "alt_questions": list(row["alt_questions"] or []),
        "tags": list(row["tags"] or []),
        "active": bool(row["active"]),
        "deleted": bool(row["deleted"]),
        "changed_by": row["changed_by"],
        "changed_at": _iso(row["changed_at"]),
    }
