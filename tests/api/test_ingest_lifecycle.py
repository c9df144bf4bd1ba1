"""Ingestion through the HTTP API beyond the happy path: job events (SSE), template choice and validation,
typed metadata, re-index with another template, delete (chunks, vectors, records and stored originals), and an
update that crashes half-way."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app.core.filters import Filter, eq
from ingest.jobs import execute_ingest_job
from tests.api.test_api import upload, wait_job

LAW = (
    "第一章 总则\n\n第一条 为了规范员工休假，制定本办法。\n\n第二条 员工每年享有带薪年休假十五天。\n\n"
    "第三条 未休假天数可以顺延至次年三月底。"
).encode()
FAQ_CSV = (
    b"question,answer\nHow do I reset my password?,Use the self-service portal.\nWho approves travel?,Your manager.\n"
)


def originals(services) -> list[Path]:
    root = services.settings.originals_dir
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".upload.json"))


class TestJobEvents:
    def test_stream_reports_progress_then_done(self, client) -> None:
        client.post("/v1/collections", json={"name": "c"})
        job = upload(client, "c", [("a.txt", b"Alpha policy text. " * 50), ("b.txt", b"Beta rules apply. " * 50)])
        with client.stream("GET", f"/v1/jobs/{job['job_id']}/events?interval=0.05") as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            events = []
            kind = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
        assert events[-1][0] == "done" and all(k == "progress" for k, _ in events[:-1])
        final = events[-1][1]
        assert final["status"] == "succeeded" and final["counts"]["files_succeeded"] == 2
        assert "payload" not in final

    def test_unknown_job_is_404_before_streaming(self, client) -> None:
        assert client.get("/v1/jobs/nope/events").status_code == 404


class TestTemplates:
    def test_unknown_template_is_422_listing_valid_ones(self, client) -> None:
        r = client.post("/v1/collections", json={"name": "c", "template": "nope"})
        assert r.status_code == 422 and "general" in r.text and "laws" in r.text
        client.post("/v1/collections", json={"name": "c"})
        r = client.post(
            "/v1/collections/c/documents", files=[("files", ("a.txt", io.BytesIO(b"x y z")))], data={"template": "x"}
        )
        assert r.status_code == 422 and "valid templates" in r.text

    def test_bad_template_params_are_422(self, client) -> None:
        client.post("/v1/collections", json={"name": "c"})
        for params in ('{"chunk_size": 5}', '{"no_such_param": 1}', "[1]", "{bad json"):
            r = client.post(
                "/v1/collections/c/documents",
                files=[("files", ("a.txt", io.BytesIO(b"x y z")))],
                data={"template": "general", "template_params": params},
            )
            assert r.status_code == 422, (params, r.text)

    def test_auto_records_its_choice_and_laws_keeps_numbering(self, client) -> None:
        client.post("/v1/collections", json={"name": "c", "template": "auto"})
        job = upload(client, "c", [("leave.txt", LAW), ("faq.csv", FAQ_CSV)])
        assert wait_job(client, job["job_id"])["status"] == "succeeded"
        docs = {d["filename"]: d for d in client.get("/v1/collections/c/documents").json()["documents"]}
        assert docs["leave.txt"]["template"] == "laws" and docs["faq.csv"]["template"] == "qa"
        assert docs["leave.txt"]["metadata"]["template_choice"]["reason"]
        chunks = client.get(f"/v1/documents/{docs['leave.txt']['id']}/chunks").json()["chunks"]
        assert any(c["text"].startswith("第二条") for c in chunks)


class TestTypedMetadata:
    SCHEMA = {
        "fields": {
            "dept": {"type": "string", "allowed": ["hr", "eng"]},
            "year": {"type": "number"},
            "effective": {"type": "date"},
        }
    }

    def test_schema_validates_uploads_and_filters_by_type(self, client) -> None:
        r = client.post("/v1/collections", json={"name": "c", "metadata_schema": self.SCHEMA})
        assert r.status_code == 201, r.text
        assert r.json()["metadata_schema"]["fields"]["year"]["type"] == "number"
        bad = client.post(
            "/v1/collections/c/documents",
            files=[("files", ("a.txt", io.BytesIO(b"Leave rules.")))],
            data={"metadata": json.dumps({"dept": "sales"})},
        )
        assert bad.status_code == 422 and "dept" in bad.text
        old = {"dept": "hr", "year": "2019", "effective": "2019-03-01"}
        new = {"dept": "hr", "year": 2024, "effective": "2024-01-15"}
        upload(client, "c", [("old.txt", b"Annual leave is 20 days.")], metadata=json.dumps(old))
        job = upload(client, "c", [("new.txt", b"Annual leave is 25 days.")], metadata=json.dumps(new))
        wait_job(client, job["job_id"])
        body = {
            "query": "annual leave days",
            "collection": "c",
            "filters": {"must": [{"key": "meta.effective", "range": {"gte": "2023-01-01"}}]},
        }
        r = client.post("/v1/retrieve", json=body)
        assert r.status_code == 200, r.text
        hits = r.json()["chunks"]
        assert [h["text"] for h in hits] == ["Annual leave is 25 days."]
        body["filters"] = {"must": [{"key": "meta.year", "range": {"lt": 2020}}]}
        assert [h["text"] for h in client.post("/v1/retrieve", json=body).json()["chunks"]] == [
            "Annual leave is 20 days."
        ]

    def test_bad_schema_is_422(self, client) -> None:
        r = client.post("/v1/collections", json={"name": "c", "metadata_schema": {"fields": {"x": {"type": "colour"}}}})
        assert r.status_code == 422 and "metadata_schema" in r.text


class TestReindexAndDelete:
    def test_reindex_with_another_template_replaces_chunks(self, client, services) -> None:
        client.post("/v1/collections", json={"name": "c"})
        job = upload(client, "c", [("leave.txt", LAW)])
        wait_job(client, job["job_id"])
        [doc] = client.get("/v1/collections/c/documents").json()["documents"]
        assert doc["template"] == "general"
        r = client.post("/v1/collections/c/reindex", json={"template": "laws"})
        assert r.status_code == 202, r.text
        assert wait_job(client, r.json()["id"])["status"] == "succeeded"
        [after] = client.get("/v1/collections/c/documents").json()["documents"]
        assert after["id"] == doc["id"] and after["template"] == "laws"
        assert client.get("/v1/collections/c").json()["template"] == "laws"
        chunks = client.get(f"/v1/documents/{doc['id']}/chunks").json()["chunks"]
        assert len(chunks) == after["chunk_count"] >= 3
        total = services.store.count(Filter(must=[eq("tenant", "default"), eq("document_id", doc["id"])]))
        assert total == after["chunk_count"]  # the general version's chunks are gone
        assert client.post("/v1/collections/c/reindex", json={"template": "nope"}).status_code == 422

    def test_delete_document_removes_chunks_record_and_original(self, client, services) -> None:
        client.post("/v1/collections", json={"name": "c"})
        job = upload(client, "c", [("a.txt", b"Alpha facts here."), ("b.txt", b"Beta facts here.")])
        wait_job(client, job["job_id"])
        assert len(originals(services)) == 2
        docs = {d["filename"]: d for d in client.get("/v1/collections/c/documents").json()["documents"]}
        assert client.delete(f"/v1/documents/{docs['a.txt']['id']}").status_code == 204
        assert client.get(f"/v1/documents/{docs['a.txt']['id']}").status_code == 404
        assert services.store.count(Filter(must=[eq("document_id", docs["a.txt"]["id"])])) == 0
        assert [p.name.split("_", 1)[1] for p in originals(services)] == ["b.txt"]

    def test_reupload_of_changed_file_keeps_one_original(self, client, services) -> None:
        client.post("/v1/collections", json={"name": "c"})
        wait_job(client, upload(client, "c", [("a.txt", b"Version one.")])["job_id"])
        wait_job(client, upload(client, "c", [("a.txt", b"Version two.")])["job_id"])
        wait_job(client, upload(client, "c", [("a.txt", b"Version two.")])["job_id"])  # unchanged
        [orig] = originals(services)
        assert orig.read_bytes() == b"Version two."

    def test_delete_collection_removes_everything(self, client, services) -> None:
        client.post("/v1/collections", json={"name": "c"})
        wait_job(client, upload(client, "c", [("a.txt", b"Alpha facts here.")])["job_id"])
        assert client.delete("/v1/collections/c").status_code == 204
        assert client.get("/v1/collections/c").status_code == 404
        assert services.store.count(Filter(must=[eq("collection", "c")])) == 0
        assert originals(services) == []


class Crash(BaseException):
    """The process dying between two store writes (not an Exception: nothing in the job code catches it)."""


def test_crash_during_update_never_leaves_neither_version(services, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.knowledge import Upload

    kb = services.kb
    kb.create_collection("default", "c")
    kb.upload("default", "c", [Upload("a.txt", io.BytesIO(b"Old rule: leave is 20 days."))])
    assert services.runner.wait_idle(60)
    [doc] = kb.list_documents("default", "c")
    real_delete = services.store.delete_stale
    seen: list[int] = []

    def crash_after_new_version(*args, **kwargs):
        seen.append(kb.count_chunks("default", "c"))  # the new version is written, the old one still there
        raise Crash()

    monkeypatch.setattr(services.store, "delete_stale", crash_after_new_version)
    services.runner.stop()  # run the update job by hand, in this thread, where the crash can be observed
    kb.upload("default", "c", [Upload("a.txt", io.BytesIO(b"New rule: leave is 25 days."))])
    [job] = services.metadata.list_jobs(["queued", "running"])
    with pytest.raises(Crash):
        execute_ingest_job(job["id"], "default", services.pipeline, services.metadata)
    texts = {c.text for c in services.store.list_chunks(Filter(must=[eq("document_id", doc.id)]), 100, 0)}
    assert seen == [2] and texts == {"Old rule: leave is 20 days.", "New rule: leave is 25 days."}
    # The record still names the old version: readers of the document see it until the update completes.
    assert kb.get_document("default", doc.id).content_hash == doc.content_hash
    monkeypatch.setattr(services.store, "delete_stale", real_delete)
    assert services.metadata.list_jobs(["queued", "running"])[0]["id"] == job["id"]
    execute_ingest_job(job["id"], "default", services.pipeline, services.metadata)  # the restart
    texts = {c.text for c in services.store.list_chunks(Filter(must=[eq("document_id", doc.id)]), 100, 0)}
    assert texts == {"New rule: leave is 25 days."}
