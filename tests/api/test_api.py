"""HTTP API end to end on the embedded default (qdrant-edge + SQLite), with the hash embedder."""

from __future__ import annotations

import io
import time

import pytest

from tests.conftest import DEMO_DIR


def wait_job(client, job_id: str, timeout: float = 60.0, headers: dict[str, str] | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed", "partial"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def upload(client, collection: str, files: list[tuple[str, bytes]], **form) -> dict:
    r = client.post(
        f"/v1/collections/{collection}/documents",
        files=[("files", (name, io.BytesIO(data))) for name, data in files],
        data=form,
    )
    assert r.status_code == 202, r.text
    return r.json()


def demo_files() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(DEMO_DIR.iterdir()) if p.is_file()]


@pytest.fixture
def demo(client) -> str:
    assert client.post("/v1/collections", json={"name": "demo"}).status_code == 201
    job = wait_job(client, upload(client, "demo", demo_files())["job_id"])
    assert job["status"] == "succeeded", job
    return "demo"


class TestCollections:
    def test_create_list_get_conflict(self, client) -> None:
        r = client.post("/v1/collections", json={"name": "hr", "template": "general"})
        assert r.status_code == 201 and r.json()["name"] == "hr"
        assert client.post("/v1/collections", json={"name": "hr"}).status_code == 409
        assert [c["name"] for c in client.get("/v1/collections").json()["collections"]] == ["hr"]
        assert client.get("/v1/collections/hr").json()["template"] == "general"

    def test_invalid_name_and_template(self, client) -> None:
        r = client.post("/v1/collections", json={"name": "bad/name"})
        assert r.status_code == 422 and r.json()["field"] == "name"
        r = client.post("/v1/collections", json={"name": "x", "template": "nope"})
        assert r.status_code == 422 and "general" in r.json()["detail"]

    def test_unknown_collection_is_404_everywhere(self, client) -> None:
        assert client.get("/v1/collections/nope").status_code == 404
        assert client.get("/v1/collections/nope/documents").status_code == 404
        assert client.post("/v1/retrieve", json={"query": "x", "collection": "nope"}).status_code == 404
        assert client.post("/v1/answer", json={"question": "x", "collection": "nope"}).status_code == 404
        r = client.post("/v1/collections/nope/documents", files=[("files", ("a.txt", io.BytesIO(b"hello")))])
        assert r.status_code == 404


class TestIngestAndQuery:
    def test_upload_job_documents_chunks(self, client, demo) -> None:
        docs = client.get(f"/v1/collections/{demo}/documents").json()["documents"]
        assert {d["external_id"] for d in docs} == {p.name for p in DEMO_DIR.iterdir()}
        assert all(d["status"] == "indexed" and d["chunk_count"] > 0 for d in docs)
        doc = next(d for d in docs if d["file_type"] == "md")
        assert client.get(f"/v1/documents/{doc['id']}").json()["title"]
        chunks = client.get(f"/v1/documents/{doc['id']}/chunks").json()["chunks"]
        assert len(chunks) == doc["chunk_count"]
        assert [c["position"] for c in chunks] == list(range(len(chunks)))
        c = chunks[0]
        assert c["template"] == "general" and c["span"]["end"] > c["span"]["start"] and c["section_path"]

    def test_upload_answers_job_and_document_ids(self, client) -> None:
        client.post("/v1/collections", json={"name": "c"})
        r = upload(client, "c", [("a.txt", b"Alpha policy text. It has two sentences.")], metadata='{"team": "ops"}')
        assert set(r) >= {"job_id", "document_ids"} and len(r["document_ids"]) == 1
        job = wait_job(client, r["job_id"])
        assert job["status"] == "succeeded" and job["files"][0]["document_ids"] == r["document_ids"]
        assert client.get(f"/v1/documents/{r['document_ids'][0]}").json()["metadata"]["team"] == "ops"

    def test_retrieve_returns_scored_chunks_with_filters(self, client, demo) -> None:
        r = client.post("/v1/retrieve", json={"query": "annual leave days", "collection": demo, "top_k": 3})
        assert r.status_code == 200
        chunks = r.json()["chunks"]
        assert 1 <= len(chunks) <= 3 and {"fused", "dense", "sparse"} <= set(chunks[0]["scores"])
        flt = {"must": [{"key": "file_type", "match": {"value": "txt"}}]}
        r = client.post("/v1/retrieve", json={"query": "leave", "collection": demo, "filters": flt, "top_k": 10})
        assert r.status_code == 200 and all(c["file_type"] == "txt" for c in r.json()["chunks"])

    def test_malformed_filter_is_422_naming_the_field(self, client, demo) -> None:
        bad = {"must": [{"key": "colour", "match": {"value": "red"}}]}
        r = client.post("/v1/retrieve", json={"query": "x", "collection": demo, "filters": bad})
        assert r.status_code == 422 and "colour" in r.text and "filters" in r.text
        bad = {"must": [{"key": "tenant", "match": {"value": "other"}}]}
        r = client.post("/v1/retrieve", json={"query": "x", "collection": demo, "filters": bad})
        assert r.status_code == 422 and r.json()["field"] == "filters"
        r = client.post("/v1/retrieve", json={"query": "x", "collection": demo, "filters": {"must": "nope"}})
        assert r.status_code == 422 and "filters" in r.text

    def test_answer_shape(self, client, demo) -> None:
        r = client.post("/v1/answer", json={"question": "How many days of paid annual leave?", "collection": demo})
        body = r.json()
        assert r.status_code == 200 and set(body) >= {"answer", "refused", "reason", "citations", "support"}
        if not body["refused"]:
            cit = body["citations"][0]
            assert set(cit) >= {"n", "chunk_id", "document_id", "external_id", "text", "page", "section_path"}

    def test_reingest_unchanged_is_noop_and_changed_replaces(self, client) -> None:
        client.post("/v1/collections", json={"name": "v"})
        first = wait_job(client, upload(client, "v", [("p.txt", b"Version one says the limit is 10.")])["job_id"])
        doc_id = first["files"][0]["document_ids"][0]
        chunks_v1 = client.get(f"/v1/documents/{doc_id}/chunks").json()["chunks"]
        again = wait_job(client, upload(client, "v", [("p.txt", b"Version one says the limit is 10.")])["job_id"])
        assert again["files"][0]["unchanged"] == 1 and again["files"][0]["chunks"] == 0
        assert client.get(f"/v1/documents/{doc_id}/chunks").json()["chunks"] == chunks_v1
        wait_job(client, upload(client, "v", [("p.txt", b"Version two says the limit is 20.")])["job_id"])
        texts = [c["text"] for c in client.get(f"/v1/documents/{doc_id}/chunks").json()["chunks"]]
        assert texts == ["Version two says the limit is 20."]
        r = client.post("/v1/retrieve", json={"query": "limit", "collection": "v", "top_k": 10})
        assert [c["text"] for c in r.json()["chunks"]] == texts

    def test_delete_document_removes_every_chunk(self, client, demo, services) -> None:
        docs = client.get(f"/v1/collections/{demo}/documents").json()["documents"]
        before = services.kb.count_chunks("default", demo)
        target = docs[0]
        assert client.delete(f"/v1/documents/{target['id']}").status_code == 204
        assert client.get(f"/v1/documents/{target['id']}").status_code == 404
        assert services.kb.count_chunks("default", demo) == before - target["chunk_count"]
        r = client.post("/v1/retrieve", json={"query": target["title"], "collection": demo, "top_k": 50})
        assert all(c["document_id"] != target["id"] for c in r.json()["chunks"])
        assert client.delete(f"/v1/documents/{target['id']}").status_code == 404


class TestBadInput:
    def test_mixed_upload_good_files_succeed_bad_ones_fail_with_reasons(self, client, services) -> None:
        client.post("/v1/collections", json={"name": "mix"})
        r = upload(
            client,
            "mix",
            [
                ("good.txt", b"A perfectly fine document about refunds."),
                ("empty.txt", b""),
                ("x.exe", b"MZ\x90\x00"),
                ("fake.pdf", b"this is not a pdf at all"),
            ],
        )
        assert len(r["document_ids"]) == 1 and {x["filename"] for x in r["rejected"]} >= {"empty.txt", "x.exe"}
        job = wait_job(client, r["job_id"])
        assert job["status"] == "partial"
        by_name = {f["filename"]: f for f in job["files"]}
        assert by_name["good.txt"]["status"] == "succeeded"
        for bad in ("empty.txt", "x.exe", "fake.pdf"):
            assert by_name[bad]["status"] == "failed" and by_name[bad]["reason"] and by_name[bad]["code"]

    def test_all_files_rejected_is_4xx_and_nothing_changes(self, client, demo, services) -> None:
        before = services.kb.count_chunks("default", demo)
        r = client.post("/v1/collections/demo/documents", files=[("files", ("a.xyz", io.BytesIO(b"data")))])
        assert r.status_code == 415 and r.json()["rejected"][0]["code"] == "unsupported_type"
        r = client.post("/v1/collections/demo/documents", files=[("files", ("e.txt", io.BytesIO(b"")))])
        assert r.status_code == 422 and "empty" in r.text
        assert services.kb.count_chunks("default", demo) == before

    def test_over_size_limit_is_413(self, tmp_path) -> None:
        from fastapi.testclient import TestClient

        from app.api.main import create_app
        from tests.conftest import make_services, make_settings

        svc = make_services(make_settings(tmp_path, ingest={"max_file_bytes": 100}))
        try:
            with TestClient(create_app(svc.settings, services=svc)) as c:
                c.post("/v1/collections", json={"name": "s"})
                r = c.post("/v1/collections/s/documents", files=[("files", ("big.txt", io.BytesIO(b"x " * 200)))])
                assert r.status_code == 413 and "100 bytes" in r.text
        finally:
            svc.close()

    def test_malformed_metadata_and_missing_files(self, client) -> None:
        client.post("/v1/collections", json={"name": "m"})
        r = client.post(
            "/v1/collections/m/documents",
            files=[("files", ("a.txt", io.BytesIO(b"hi")))],
            data={"metadata": "{not json"},
        )
        assert r.status_code == 422 and r.json()["field"] == "metadata"
        assert client.post("/v1/collections/m/documents").status_code == 422

    def test_empty_query_and_bad_top_k(self, client, demo) -> None:
        assert client.post("/v1/retrieve", json={"query": "", "collection": demo}).status_code == 422
        assert client.post("/v1/retrieve", json={"query": "x", "collection": demo, "top_k": 0}).status_code == 422


def test_health(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"metadata": "ok", "vector_store": "ok"}
    assert client.get("/docs").status_code == 200
