"""Shared fixtures: settings on a temp dir, services with a fake or the real embedder, a test client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
DEMO_DIR = REPO / "app" / "demo"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or a visible skip when the development data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"development data not available: {path}")
    return path


@pytest.fixture(scope="session")
def minilm():
    """The real packaged MiniLM, loaded once per test session."""
    from app.adapters.embedders import MiniLMEmbedder

    emb = MiniLMEmbedder(batch_size=16)
    emb.warm_up()
    return emb


def make_settings(tmp_path: Path, **overrides):
    from app.core.settings import Settings

    # Parsing in-process keeps the many short-lived test services fast (a parser child loads spaCy, ~3 s); the
    # isolated parser (the default) has its own tests and runs in tests/api/test_isolated_ingest.py.
    base = {
        "data_dir": tmp_path / "data",
        "env": "test",
        "models": {"embedder": "hash"},
        "ingest": {"isolate_parser": False},
    }
    base.update(overrides)
    return Settings(**base)


def make_services(settings, embedder=None):
    from app.container import build_services

    svc = build_services(settings, embedder=embedder)
    svc.warm_up()
    svc.runner.start()
    return svc


@pytest.fixture
def services(tmp_path: Path) -> Iterator:
    """Embedded services with the deterministic hash embedder (fast, no model)."""
    svc = make_services(make_settings(tmp_path))
    yield svc
    svc.close()


@pytest.fixture
def client(services):
    from fastapi.testclient import TestClient

    from app.api.main import create_app

    with TestClient(create_app(services.settings, services=services)) as c:
        yield c


PG_URL = os.environ.get("GROUNDED_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_engine(url: str, **kw: object):
    """A SQLAlchemy engine on a postgresql:// URL with the psycopg 3 driver."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(make_url(url).set(drivername="postgresql+psycopg"), **kw)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """URL (plain postgresql://, as a user would configure it) of a fresh database, dropped at the end; the module
    is skipped, with the reason, when the server cannot be reached."""
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    admin_url = make_url(PG_URL).set(database="postgres")
    admin = pg_engine(
        admin_url.render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )
    try:
        conn = admin.connect()
    except OperationalError as e:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {admin_url}: {e.orig}")
    name = f"grounded_e2e_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
