"""Contract suite for MetadataStore: the same tests run against SQLite (a temp file) and a real PostgreSQL.

PostgreSQL: a fresh database `grounded_test_<random>` is created per test session on the server named by
GROUNDED_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from app.adapters.metadata_db import SqlMetadataStore
from app.core.domain import Document, JobStatus, Stage
from app.core.errors import ConflictError, NotFoundError, StoreError
from app.core.ports import MetadataStore

PG_URL = os.environ.get("GROUNDED_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _with_db(url: str, db: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + db


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (plain postgresql:// URL)."""
    admin = _with_db(PG_URL, "postgres")
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL not reachable at {admin}: {e}")
    name = f"grounded_test_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_db(PG_URL, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        with psycopg.connect(url, autocommit=True) as conn:  # tables exist after the first test: start empty
            conn.execute("DROP TABLE IF EXISTS collections, documents, jobs")
    s = SqlMetadataStore(url)
    yield s
    s.close()


def make_doc(doc_id: str = "d1", tenant: str = "t1", collection: str = "c1", **kw: object) -> Document:
    fields: dict[str, object] = {
        "external_id": f"{doc_id}.pdf",
        "filename": f"{doc_id}.pdf",
        "file_type": "pdf",
        "content_hash": "h" * 64,
        "status": "indexed",
    }
    fields.update(kw)
    return Document(id=doc_id, tenant=tenant, collection=collection, **fields)  # type: ignore[arg-type]


def make_job(job_id: str = "j1", tenant: str = "t1", **kw: object) -> dict[str, object]:
    job: dict[str, object] = {
        "id": job_id,
        "tenant": tenant,
        "collection": "c1",
        "status": JobStatus.QUEUED,
        "files": [{"filename": "a.pdf", "stage": "queued"}],
        "payload": {"paths": ["/tmp/a.pdf"]},
    }
    job.update(kw)
    return job


def is_utc_iso(value: object) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None and value.endswith("+00:00")


class TestMetadataStoreContract:
    def test_implements_port(self, store: SqlMetadataStore) -> None:
        assert isinstance(store, MetadataStore)

    def test_collection_crud(self, store: SqlMetadataStore) -> None:
        created = store.create_collection("t1", "handbook", template="general", description="HR")
        assert created["name"] == "handbook" and created["tenant"] == "t1" and created["template"] == "general"
        assert created["description"] == "HR" and created["document_count"] == 0 and is_utc_iso(created["created_at"])
        store.create_collection("t1", "contracts", template="legal")
        assert store.get_collection("t1", "handbook") == created
        assert [c["name"] for c in store.list_collections("t1")] == ["contracts", "handbook"]
        store.delete_collection("t1", "handbook")
        assert [c["name"] for c in store.list_collections("t1")] == ["contracts"]

    def test_collection_conflict_and_not_found(self, store: SqlMetadataStore) -> None:
        store.create_collection("t1", "c1", template="general")
        with pytest.raises(ConflictError):
            store.create_collection("t1", "c1", template="legal")
        store.create_collection("t2", "c1", template="general")  # same name, other tenant: allowed
        with pytest.raises(NotFoundError) as err:
            store.get_collection("t1", "missing")
        assert (err.value.kind, err.value.key) == ("collection", "missing")
        with pytest.raises(NotFoundError):
            store.delete_collection("t1", "missing")

    def test_collection_document_count_and_cascade(self, store: SqlMetadataStore) -> None:
        store.create_collection("t1", "c1", template="general")
        store.create_collection("t1", "c2", template="general")
        for i in range(3):
            store.upsert_document(make_doc(f"d{i}", collection="c1"))
        store.upsert_document(make_doc("other", collection="c2"))
        assert store.get_collection("t1", "c1")["document_count"] == 3
        assert {c["name"]: c["document_count"] for c in store.list_collections("t1")} == {"c1": 3, "c2": 1}
        store.delete_collection("t1", "c1")
        assert store.find_document("t1", "d0") is None
        assert store.list_documents("t1", "c1") == []
        assert store.get_document("t1", "other").collection == "c2"

    def test_document_upsert_get_update(self, store: SqlMetadataStore) -> None:
        doc = make_doc(metadata={"author": "Ann", "tags": ["a", "b"], "nested": {"x": 1}}, acl_groups=("hr", "all"))
        stored = store.upsert_document(doc)
        assert is_utc_iso(stored.created_at) and is_utc_iso(stored.updated_at)
        got = store.get_document("t1", "d1")
        assert got == stored
        assert got.metadata == {"author": "Ann", "tags": ["a", "b"], "nested": {"x": 1}}
        assert got.acl_groups == ("hr", "all")

        updated = store.upsert_document(replace(doc, status="failed", chunk_count=7, error="boom", title="T"))
        assert updated.created_at == stored.created_at
        assert updated.updated_at >= stored.updated_at
        got = store.get_document("t1", "d1")
        assert (got.status, got.chunk_count, got.error, got.title) == ("failed", 7, "boom", "T")
        assert got == updated

    def test_document_list_order_paging_delete(self, store: SqlMetadataStore) -> None:
        for i in range(5):
            store.upsert_document(make_doc(f"d{i}", created_at=f"2024-01-0{i + 1}T00:00:00+00:00"))
        store.upsert_document(make_doc("z-same-time", created_at="2024-01-01T00:00:00Z"))
        ids = [d.id for d in store.list_documents("t1", "c1")]
        assert ids == ["d0", "z-same-time", "d1", "d2", "d3", "d4"]
        assert [d.id for d in store.list_documents("t1", "c1", limit=2, offset=2)] == ["d1", "d2"]
        assert store.get_document("t1", "d0").created_at == "2024-01-01T00:00:00+00:00"
        store.delete_document("t1", "d2")
        assert store.find_document("t1", "d2") is None
        with pytest.raises(NotFoundError):
            store.get_document("t1", "d2")
        with pytest.raises(NotFoundError):
            store.delete_document("t1", "d2")

    def test_tenant_isolation(self, store: SqlMetadataStore) -> None:
        store.create_collection("A", "shared-name", template="general")
        store.upsert_document(make_doc("docA", tenant="A", collection="shared-name"))
        store.create_job(make_job("jobA", tenant="A"))

        assert store.list_collections("B") == []
        with pytest.raises(NotFoundError):
            store.get_collection("B", "shared-name")
        with pytest.raises(NotFoundError) as err:
            store.get_document("B", "docA")
        assert (err.value.kind, err.value.key) == ("document", "docA")
        assert store.find_document("B", "docA") is None
        assert store.list_documents("B", "shared-name") == []
        with pytest.raises(NotFoundError):
            store.delete_document("B", "docA")
        with pytest.raises(NotFoundError) as err:
            store.get_job("B", "jobA")
        assert (err.value.kind, err.value.key) == ("job", "jobA")
        with pytest.raises(ConflictError):  # B cannot overwrite A's record by reusing its id
            store.upsert_document(make_doc("docA", tenant="B", collection="shared-name"))
        assert store.get_document("A", "docA").tenant == "A"
        assert store.get_job("A", "jobA")["tenant"] == "A"

    def test_job_create_get_update(self, store: SqlMetadataStore) -> None:
        job = store.create_job(make_job())
        assert set(job) == {
            "id", "tenant", "collection", "status", "stage", "files", "counts", "payload", "error",
            "created_at", "updated_at", "started_at", "finished_at",
        }  # fmt: skip
        assert job["status"] == "queued" and job["stage"] == "queued" and job["counts"] == {}
        assert job["error"] is None and job["started_at"] is None and job["finished_at"] is None
        assert is_utc_iso(job["created_at"]) and is_utc_iso(job["updated_at"])
        assert store.get_job("t1", "j1") == job

        running = store.update_job("j1", status=JobStatus.RUNNING, stage=Stage.PARSING, started_at=datetime.now())
        assert running["status"] == "running" and running["stage"] == "parsing" and is_utc_iso(running["started_at"])
        done = store.update_job(
            "j1", status="succeeded", counts={"ok": 1}, finished_at="2024-05-01T12:00:00+02:00", error=None
        )
        assert done["finished_at"] == "2024-05-01T10:00:00+00:00"
        assert store.get_job("t1", "j1") == done
        assert done["created_at"] == job["created_at"] and done["updated_at"] >= job["updated_at"]

    def test_job_errors(self, store: SqlMetadataStore) -> None:
        store.create_job(make_job())
        with pytest.raises(ValueError, match="bogus"):
            store.update_job("j1", bogus=1)
        with pytest.raises(ValueError, match="created_at|valid"):
            store.update_job("j1", id="other")
        with pytest.raises(NotFoundError):
            store.update_job("missing", status="running")
        with pytest.raises(NotFoundError):
            store.get_job("t1", "missing")
        with pytest.raises(ValueError, match="payload"):
            store.create_job({"id": "j2", "tenant": "t1", "collection": "c1", "status": "queued", "files": []})
        with pytest.raises(ConflictError):
            store.create_job(make_job())

    def test_job_json_round_trip(self, store: SqlMetadataStore) -> None:
        files = [
            {
                "filename": "ünïcødé 文件.pdf",
                "stage": "done",
                "document_ids": ["a", "b"],
                "result": {"chunks": 12, "pages": [1, 2, 3], "skipped": False, "score": 0.5, "note": None},
            },
            {"filename": "bad.docx", "stage": "failed", "error": {"code": "encrypted", "permanent": True}},
        ]
        store.create_job(make_job(payload={"options": {"template": "legal", "acl": ["hr"]}, "n": 2}))
        store.update_job("j1", files=files, counts={"done": 1, "failed": 1, "by_stage": {"done": 1}})
        job = store.get_job("t1", "j1")
        assert job["files"] == files
        assert job["counts"] == {"done": 1, "failed": 1, "by_stage": {"done": 1}}
        assert job["payload"] == {"options": {"template": "legal", "acl": ["hr"]}, "n": 2}

    def test_list_jobs_by_status(self, store: SqlMetadataStore) -> None:
        store.create_job(make_job("q1", tenant="A"))
        store.create_job(make_job("r1", tenant="B", status=JobStatus.RUNNING))
        store.create_job(make_job("s1", tenant="A", status=JobStatus.SUCCEEDED))
        assert {j["id"] for j in store.list_jobs([JobStatus.QUEUED, JobStatus.RUNNING])} == {"q1", "r1"}
        assert [j["id"] for j in store.list_jobs(["succeeded"])] == ["s1"]
        assert store.list_jobs([]) == []
        assert [j["id"] for j in store.list_jobs(["queued", "running"], tenant="B")] == ["r1"]
        store.update_job("q1", status="failed")
        assert [j["id"] for j in store.list_jobs(["queued", "running"])] == ["r1"]

    def test_concurrent_writes(self, store: SqlMetadataStore) -> None:
        store.create_job(make_job())
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def work(t: int) -> None:
            try:
                start.wait()
                for n in range(50):
                    store.update_job("j1", counts={"thread": t, "n": n}, stage=Stage.EMBEDDING)
                    if n % 10 == 0:
                        store.upsert_document(make_doc(f"doc-{t}-{n}"))
                        store.get_job("t1", "j1")
            except BaseException as e:  # collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert store.get_job("t1", "j1")["counts"]["n"] == 49
        assert len(store.list_documents("t1", "c1", limit=1000)) == 20


class TestSqliteSpecifics:
    def test_persists_after_reopen(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'meta.db'}"  # parent dirs are created
        first = SqlMetadataStore(url)
        first.create_collection("t1", "c1", template="general")
        first.upsert_document(make_doc(metadata={"k": [1, 2]}))
        first.create_job(make_job())
        first.close()

        second = SqlMetadataStore(url)
        try:
            assert second.get_collection("t1", "c1")["document_count"] == 1
            assert second.get_document("t1", "d1").metadata == {"k": [1, 2]}
            assert second.get_job("t1", "j1")["files"] == [{"filename": "a.pdf", "stage": "queued"}]
        finally:
            second.close()

    def test_wal_mode(self, tmp_path: Path) -> None:
        store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
        store.create_collection("t1", "c1", template="general")
        store.close()
        with contextlib.closing(sqlite3.connect(tmp_path / "meta.db")) as conn:  # WAL is a property of the file
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_in_memory(self) -> None:
        store = SqlMetadataStore("sqlite://")
        store.create_collection("t1", "c1", template="general")
        assert store.get_collection("t1", "c1")["name"] == "c1"
        store.close()

    def test_unopenable_path_is_store_error(self, tmp_path: Path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        with pytest.raises(StoreError):
            SqlMetadataStore(f"sqlite:///{blocker / 'meta.db'}")
