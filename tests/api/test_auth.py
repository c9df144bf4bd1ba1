"""API keys, roles, tenants and rate limits over HTTP."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.api.main import create_app
from tests.api.test_api import wait_job
from tests.conftest import make_services, make_settings

ADMIN = "admin-secret-for-tests"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[TestClient, object]]:
    svc = make_services(make_settings(tmp_path, admin_key=ADMIN, rate_limit_per_s=0))
    with TestClient(create_app(svc.settings, services=svc)) as client:
        yield client, svc
    svc.close()


def new_key(client: TestClient, role: str, tenant: str = "default", groups: list[str] | None = None) -> str:
    r = client.post("/v1/keys", json={"role": role, "tenant": tenant, "groups": groups}, headers=bearer(ADMIN))
    assert r.status_code == 201, r.text
    return r.json()["key"]


class TestAuthentication:
    def test_only_health_endpoints_are_anonymous(self, secured) -> None:
        client, _ = secured
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        for method, path in [("GET", "/v1/collections"), ("POST", "/v1/retrieve"), ("GET", "/v1/keys")]:
            r = client.request(method, path, json={})
            assert r.status_code == 401, (path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"

    def test_wrong_malformed_and_revoked_keys_are_401(self, secured) -> None:
        client, _ = secured
        for headers in (bearer("nope"), bearer("grk_000000000000_x"), {"Authorization": "Basic abc"}):
            assert client.get("/v1/collections", headers=headers).status_code == 401
        key = new_key(client, "reader")
        assert client.get("/v1/collections", headers=bearer(key)).status_code == 200
        assert client.get("/v1/collections", headers={"X-API-Key": key}).status_code == 200
        key_id = key.split("_")[1]
        assert client.delete(f"/v1/keys/{key_id}", headers=bearer(ADMIN)).json()["revoked"] is True
        assert client.get("/v1/collections", headers=bearer(key)).status_code == 401

    def test_keys_are_shown_once_and_stored_hashed(self, secured) -> None:
        client, svc = secured
        key = new_key(client, "editor", "acme", ["hr"])
        listed = client.get("/v1/keys", headers=bearer(ADMIN)).json()["keys"]
        assert [k["tenant"] for k in listed] == ["acme"] and "key" not in listed[0]
        assert listed[0]["groups"] == ["hr"] and listed[0]["role"] == "editor"
        secret = key.split("_", 2)[2]
        with svc.metadata.session() as s:
            rows = s.execute(text("SELECT * FROM api_keys")).all()
        assert rows and all(secret not in str(row) for row in rows)

    def test_bad_key_requests_are_422(self, secured) -> None:
        client, _ = secured
        for body in ({"role": "root", "tenant": "t"}, {"role": "reader", "tenant": "bad tenant!"}, {"role": "reader"}):
            assert client.post("/v1/keys", json=body, headers=bearer(ADMIN)).status_code == 422


class TestRoles:
    def test_each_role_can_do_only_its_part(self, secured) -> None:
        client, _ = secured
        reader, editor, evaluator = (new_key(client, r) for r in ("reader", "editor", "evaluator"))
        assert client.post("/v1/collections", json={"name": "c"}, headers=bearer(reader)).status_code == 403
        assert client.post("/v1/collections", json={"name": "c"}, headers=bearer(editor)).status_code == 201
        files = [("files", ("a.txt", io.BytesIO(b"Annual leave is 25 days per year.")))]
        r = client.post("/v1/collections/c/documents", files=files, headers=bearer(reader))
        assert r.status_code == 403 and "reader" in r.json()["detail"]
        r = client.post("/v1/collections/c/documents", files=files, headers=bearer(editor))
        assert r.status_code == 202
        wait_job(client, r.json()["job_id"], headers=bearer(editor))
        for key in (reader, editor, evaluator):
            body = {"query": "annual leave days", "collection": "c"}
            assert client.post("/v1/retrieve", json=body, headers=bearer(key)).status_code == 200
        for key in (reader, editor, evaluator):
            assert (
                client.post("/v1/keys", json={"role": "admin", "tenant": "x"}, headers=bearer(key)).status_code == 403
            )
        doc = client.get("/v1/collections/c/documents", headers=bearer(reader)).json()["documents"][0]
        assert client.delete(f"/v1/documents/{doc['id']}", headers=bearer(reader)).status_code == 403
        assert client.delete(f"/v1/documents/{doc['id']}", headers=bearer(editor)).status_code == 204

    def test_tenant_comes_from_the_key(self, secured) -> None:
        client, _ = secured
        acme, globex = new_key(client, "editor", "acme"), new_key(client, "editor", "globex")
        assert client.post("/v1/collections", json={"name": "c"}, headers=bearer(acme)).status_code == 201
        assert client.get("/v1/collections/c", headers=bearer(globex)).status_code == 404
        assert client.post("/v1/collections", json={"name": "c"}, headers=bearer(globex)).status_code == 201
        assert [c["tenant"] for c in client.get("/v1/collections", headers=bearer(acme)).json()["collections"]] == [
            "acme"
        ]


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    svc = make_services(make_settings(tmp_path, admin_key=ADMIN, rate_limit_per_s=0.5, rate_limit_burst=2))
    try:
        with TestClient(create_app(svc.settings, services=svc)) as client:
            codes = [client.get("/v1/collections", headers=bearer(ADMIN)).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            r = client.get("/v1/collections", headers=bearer(ADMIN))
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        svc.close()


def test_production_refuses_to_start_without_an_admin_key(tmp_path: Path) -> None:
    svc = make_services(make_settings(tmp_path, env="production"))
    try:
        with (
            pytest.raises(RuntimeError, match="GROUNDED_ADMIN_KEY"),
            TestClient(create_app(svc.settings, services=svc)),
        ):
            pass
    finally:
        svc.close()


def test_development_without_admin_key_is_anonymous(client) -> None:
    assert client.get("/v1/collections").status_code == 200


def test_oversized_request_body_is_413(client) -> None:
    body = b'{"query": "' + b"a" * 2_000_000 + b'", "collection": "x"}'
    r = client.post("/v1/retrieve", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
