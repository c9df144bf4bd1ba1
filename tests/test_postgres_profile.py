"""The whole embedded service (HTTP API, job runner, qdrant-edge) with its metadata in a real PostgreSQL.

A fresh database `grounded_e2e_<random>` is created on the server named by GROUNDED_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards; the module is skipped, with the reason,
when the server cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from tests.api.test_api import demo_files, upload, wait_job
from tests.conftest import DEMO_DIR, make_services, make_settings, pg_engine

pytestmark = pytest.mark.integration

# The hash embedder scores by shared words: queries close to the documents' wording clear the relevance floor.
PASSWORD_QUERY = "All accounts must use a password of at least how many characters?"


@pytest.fixture(scope="module")
def pg(pg_database: str) -> Iterator[Engine]:
    """A direct connection to the service's database, to check what it really stored."""
    engine = pg_engine(pg_database)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def svc(pg_database: str, tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(tmp_path_factory.mktemp("pg"), database_url=pg_database)
    services = make_services(settings)
    yield services
    services.close()


@pytest.fixture(scope="module")
def client(svc):
    from fastapi.testclient import TestClient

    from app.api.main import create_app

    with TestClient(create_app(svc.settings, services=svc)) as c:
        yield c


@pytest.fixture(scope="module")
def demo_job(client) -> dict:
    assert client.post("/v1/collections", json={"name": "demo"}).status_code == 201
    return wait_job(client, upload(client, "demo", demo_files())["job_id"])


def test_metadata_store_is_postgresql(svc, pg_database: str) -> None:
    assert svc.settings.sqlalchemy_url.startswith("postgresql+psycopg://")
    assert make_url(pg_database).database.startswith("grounded_e2e_")
    url = svc.metadata._engine.url  # the store talks to the fresh database, not to a default SQLite file
    assert url.get_backend_name() == "postgresql" and url.database == make_url(pg_database).database
    assert not (svc.settings.data_dir / "grounded.db").exists()


def test_ingest_and_list_documents(client, demo_job: dict, pg: Engine) -> None:
    assert demo_job["status"] == "succeeded", demo_job
    docs = client.get("/v1/collections/demo/documents").json()["documents"]
    assert {d["external_id"] for d in docs} == {p.name for p in DEMO_DIR.iterdir()}
    assert all(d["status"] == "indexed" and d["chunk_count"] > 0 for d in docs)
    assert client.get("/v1/collections/demo").json()["document_count"] == len(docs)
    with pg.connect() as conn:
        status, counts = conn.execute(
            text("SELECT status, counts FROM jobs WHERE id = :id"), {"id": demo_job["id"]}
        ).one()
        rows = conn.execute(
            text("SELECT id, external_id, chunk_count FROM documents WHERE collection = 'demo' AND tenant = 'default'")
        ).all()
    assert status == "succeeded" and counts["documents"] == len(docs)
    assert {(r.id, r.external_id, r.chunk_count) for r in rows} == {
        (d["id"], d["external_id"], d["chunk_count"]) for d in docs
    }


def test_retrieve_and_answer(client, demo_job: dict) -> None:
    r = client.post("/v1/retrieve", json={"query": PASSWORD_QUERY, "collection": "demo", "top_k": 3})
    assert r.status_code == 200
    chunks = r.json()["chunks"]
    assert chunks and chunks[0]["external_id"] == "it-security-policy.txt"
    question = "How many days of paid annual leave do full-time employees receive per calendar year?"
    body = client.post("/v1/answer", json={"question": question, "collection": "demo"}).json()
    assert body["refused"] is False and "25" in body["answer"], body
    assert body["citations"][0]["external_id"] == "employee-handbook.md"


def test_delete_document_removes_row_and_chunks(client, svc, pg: Engine) -> None:
    # Its own collection, so the demo documents the other tests read stay whole in any test order.
    assert client.post("/v1/collections", json={"name": "scratch"}).status_code == 201
    job = wait_job(client, upload(client, "scratch", demo_files())["job_id"])
    assert job["status"] == "succeeded", job
    docs = client.get("/v1/collections/scratch/documents").json()["documents"]
    target = next(d for d in docs if d["external_id"] == "travel-and-expenses.html")
    before = svc.kb.count_chunks("default", "scratch")
    assert client.delete(f"/v1/documents/{target['id']}").status_code == 204
    assert client.get(f"/v1/documents/{target['id']}").status_code == 404
    assert svc.kb.count_chunks("default", "scratch") == before - target["chunk_count"]
    with pg.connect() as conn:
        ids = set(conn.execute(text("SELECT id FROM documents WHERE collection = 'scratch'")).scalars())
    assert ids == {d["id"] for d in docs} - {target["id"]}


def test_a_second_process_reads_the_same_database(svc, demo_job: dict) -> None:
    """Another process on the same PostgreSQL sees the jobs and documents the first one stored."""
    from app.adapters.metadata_db import SqlMetadataStore

    other = SqlMetadataStore(svc.settings.database_url)
    try:
        assert other.get_job("default", demo_job["id"])["status"] == "succeeded"
        assert "demo" in {c["name"] for c in other.list_collections("default")}
        assert other.list_jobs(["queued", "running"]) == []
    finally:
        other.close()
