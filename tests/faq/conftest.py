"""FAQ fixtures: the metadata store on SQLite and on the real PostgreSQL (the same tests run against both)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.adapters.embedders import HashEmbedder
from app.adapters.metadata_db import SqlMetadataStore
from app.faq import FaqService, SqlFaqStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def metadata(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    url = f"sqlite:///{tmp_path}/faq.db" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    store = SqlMetadataStore(url)
    yield store
    store.close()


@pytest.fixture
def store(metadata: SqlMetadataStore) -> SqlFaqStore:
    return SqlFaqStore(metadata)


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test: the PostgreSQL database is shared by a module's tests."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def faq(tmp_path: Path) -> Iterator[FaqService]:
    """The service on SQLite with the hash embedder (plumbing, not match quality)."""
    metadata = SqlMetadataStore(f"sqlite:///{tmp_path}/svc.db")
    yield FaqService(SqlFaqStore(metadata), HashEmbedder(dim=256))
    metadata.close()
