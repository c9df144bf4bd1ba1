"""The audit trail of API operations, and stored originals encrypted at rest."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from app.adapters.crypto import generate_key, is_encrypted
from app.api.main import create_app
from tests.api.test_api import wait_job
from tests.conftest import make_services, make_settings

ADMIN = "audit-admin-key"
H = {"Authorization": f"Bearer {ADMIN}"}
TEXT = b"Annual leave is 25 days. Unused days expire at the end of March."


def test_data_operations_and_denials_are_audited_and_chained(tmp_path: Path) -> None:
    svc = make_services(make_settings(tmp_path, admin_key=ADMIN, rate_limit_per_s=0))
    try:
        with TestClient(create_app(svc.settings, services=svc)) as client:
            client.post("/v1/collections", json={"name": "c"}, headers=H)
            r = client.post("/v1/collections/c/documents", files=[("files", ("a.txt", io.BytesIO(TEXT)))], headers=H)
            wait_job(client, r.json()["job_id"], headers=H)
            doc_id = r.json()["document_ids"][0]
            client.post("/v1/retrieve", json={"query": "leave", "collection": "c"}, headers=H)  # a read: not audited
            client.delete(f"/v1/documents/{doc_id}", headers=H)
            client.get("/v1/collections")  # no key → 401, audited as a denial
            records = client.get("/v1/audit?limit=50", headers=H).json()["records"]
            actions = [(r["action"], r["outcome"], r["actor"]) for r in reversed(records)]
            assert actions == [
                ("POST /v1/collections", "ok", "admin"),
                ("POST /v1/collections/{collection}/documents", "ok", "admin"),
                ("DELETE /v1/documents/{document_id}", "ok", "admin"),
                ("GET /v1/collections", "denied", "unauthenticated"),
            ]
            assert records[1]["target"] == f"/v1/documents/{doc_id}"
            assert client.get("/v1/audit/verify", headers=H).json()["ok"] is True
            assert client.get("/v1/audit?since=yesterday", headers=H).status_code == 422
            reader = client.post("/v1/keys", json={"role": "reader", "tenant": "default"}, headers=H).json()["key"]
            assert client.get("/v1/audit", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
        db = sqlite3.connect(tmp_path / "data" / "grounded.db")
        db.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")
        db.commit()
        db.close()
        result = svc.audit.verify()
        assert not result.ok and result.first_bad_id == 2
    finally:
        svc.close()


def test_originals_are_encrypted_at_rest_and_still_ingest_and_reindex(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    svc = make_services(make_settings(tmp_path, originals_keys=f"{new},{old}"))
    try:
        with TestClient(create_app(svc.settings, services=svc)) as client:
            client.post("/v1/collections", json={"name": "c"})
            r = client.post("/v1/collections/c/documents", files=[("files", ("a.txt", io.BytesIO(TEXT)))])
            assert wait_job(client, r.json()["job_id"])["status"] == "succeeded"
            [original] = [p for p in svc.settings.originals_dir.rglob("*_a.txt")]
            raw = original.read_bytes()
            assert is_encrypted(original) and b"Annual leave" not in raw
            hits = client.post("/v1/retrieve", json={"query": "annual leave days", "collection": "c"}).json()
            assert "25 days" in hits["chunks"][0]["text"]
            # Same content again: recognised as unchanged although the ciphertext differs.
            r = client.post("/v1/collections/c/documents", files=[("files", ("a.txt", io.BytesIO(TEXT)))])
            job = wait_job(client, r.json()["job_id"])
            assert job["files"][0]["unchanged"] == 1
            r = client.post(
                "/v1/collections/c/reindex", json={"template": "general", "template_params": {"chunk_size": 400}}
            )
            assert wait_job(client, r.json()["id"])["status"] == "succeeded"
    finally:
        svc.close()
