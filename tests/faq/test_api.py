"""/v1/faq over HTTP: CRUD, versions, import, match; roles (reader reads, editor writes) and tenant isolation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from tests.conftest import make_services, make_settings

ADMIN = "faq-admin-key"
CSV = "question,answer,alt_questions,tags\nIs overtime paid?,Time off in lieu.,Do I get paid for overtime?,pay\n"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class World:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.keys = {}
        for role, tenant in (("editor", "acme"), ("reader", "acme"), ("editor", "globex")):
            r = client.post("/v1/keys", json={"role": role, "tenant": tenant}, headers=bearer(ADMIN))
            assert r.status_code == 201, r.text
            self.keys[(role, tenant)] = bearer(r.json()["key"])
        for tenant in ("acme", "globex"):
            r = client.post("/v1/collections", json={"name": "hr"}, headers=self.keys[("editor", tenant)])
            assert r.status_code == 201, r.text

    @property
    def editor(self) -> dict[str, str]:
        return self.keys[("editor", "acme")]

    @property
    def reader(self) -> dict[str, str]:
        return self.keys[("reader", "acme")]

    @property
    def other(self) -> dict[str, str]:
        return self.keys[("editor", "globex")]

    def create(self, question: str = "How long is the probation period?", **extra: object) -> dict:
        body = {"collection": "hr", "question": question, "answer": "Six months."} | extra
        r = self.client.post("/v1/faq", json=body, headers=self.editor)
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # No answer verifier: these tests never answer, and the library does not depend on it.
    settings = make_settings(
        tmp_path_factory.mktemp("faq"), admin_key=ADMIN, rate_limit_per_s=0, answer={"verifier": "none"}
    )
    svc = make_services(settings)
    with TestClient(create_app(svc.settings, services=svc)) as client:
        yield World(client)
    svc.close()


def clear(world: World) -> None:
    for tenant in ("acme", "globex"):
        headers = world.keys[("editor", tenant)]
        for e in world.client.get("/v1/faq?collection=hr", headers=headers).json()["entries"]:
            assert world.client.delete(f"/v1/faq/{e['id']}", headers=headers).status_code == 200


@pytest.fixture
def api(world: World) -> Iterator[World]:
    yield world
    clear(world)


class TestCrud:
    def test_create_read_list_update_delete(self, api: World) -> None:
        c = api.client
        entry = api.create(alt_questions=["Probation length?"], tags=["contract"])
        assert (
            entry["version"] == 1 and entry["alt_questions"] == ["Probation length?"] and entry["tags"] == ["contract"]
        )
        assert c.get(f"/v1/faq/{entry['id']}", headers=api.reader).json() == entry
        listed = c.get("/v1/faq?collection=hr&limit=10", headers=api.reader).json()
        assert listed["total"] == 1 and listed["entries"][0]["id"] == entry["id"] and listed["limit"] == 10
        r = c.put(f"/v1/faq/{entry['id']}", json={"answer": "Three months.", "expected_version": 1}, headers=api.editor)
        assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["question"] == entry["question"]
        r = c.delete(f"/v1/faq/{entry['id']}", headers=api.editor)
        assert r.status_code == 200 and r.json()["deleted"] is True
        assert c.get(f"/v1/faq/{entry['id']}", headers=api.reader).status_code == 404
        assert c.get("/v1/faq?collection=hr&include_deleted=true", headers=api.reader).json()["total"] == 1

    def test_versions_restore_and_conflicts(self, api: World) -> None:
        c = api.client
        entry = api.create()
        c.put(f"/v1/faq/{entry['id']}", json={"answer": "Wrong."}, headers=api.editor)
        r = c.put(f"/v1/faq/{entry['id']}", json={"answer": "Stale.", "expected_version": 1}, headers=api.editor)
        assert r.status_code == 409 and "version 2" in r.json()["detail"]
        r = c.post(f"/v1/faq/{entry['id']}/restore/1", headers=api.editor)
        assert r.status_code == 200 and (r.json()["version"], r.json()["answer"]) == (3, "Six months.")
        history = c.get(f"/v1/faq/{entry['id']}/versions", headers=api.reader).json()["versions"]
        assert [(v["version"], v["kind"]) for v in history] == [(1, "create"), (2, "update"), (3, "restore")]
        assert c.post(f"/v1/faq/{entry['id']}/restore/9", headers=api.editor).status_code == 404
        assert c.post(f"/v1/faq/{entry['id']}/restore/1?expected_version=1", headers=api.editor).status_code == 409
        assert c.post("/v1/faq", json={"collection": "hr", "question": "how long is the probation period",
                                       "answer": "x"}, headers=api.editor).status_code == 409  # fmt: skip

    def test_bad_input_is_4xx_with_a_reason(self, api: World) -> None:
        c = api.client
        entry = api.create()
        bad_bodies = [
            {"collection": "hr", "question": "", "answer": "x"},
            {"collection": "hr", "question": "Q?"},
            {"collection": "hr", "question": "Q?", "answer": "   "},
            {"collection": "hr", "question": "Q?", "answer": "A", "tags": ["t"] * 21},
        ]
        for body in bad_bodies:
            assert c.post("/v1/faq", json=body, headers=api.editor).status_code == 422, body
        r = c.post("/v1/faq", json={"collection": "nope", "question": "Q?", "answer": "A"}, headers=api.editor)
        assert r.status_code == 404 and r.json()["kind"] == "collection"
        assert c.get("/v1/faq?collection=nope", headers=api.reader).status_code == 404
        assert c.get("/v1/faq", headers=api.reader).status_code == 422
        assert c.put(f"/v1/faq/{entry['id']}", json={}, headers=api.editor).status_code == 422
        assert c.put(f"/v1/faq/{entry['id']}", json={"answer": None}, headers=api.editor).status_code == 422
        assert (
            c.put(f"/v1/faq/{entry['id']}", json={"expected_version": 0, "answer": "A"}, headers=api.editor).status_code
            == 422
        )
        assert c.get("/v1/faq/not-an-id", headers=api.reader).status_code == 404


class TestImport:
    def test_csv_and_jsonl_imports(self, api: World) -> None:
        c = api.client
        r = c.post("/v1/faq/import?collection=hr", files={"file": ("faq.csv", CSV.encode())}, headers=api.editor)
        assert r.status_code == 200, r.text
        assert (r.json()["created"], r.json()["total"]) == (1, 1)
        rows = [{"问题": "年假有多少天？", "答案": "15天。"}, {"question": "Is overtime paid?", "answer": "125%."}]
        jsonl = "\n".join(json.dumps(x, ensure_ascii=False) for x in rows).encode()
        r = c.post("/v1/faq/import?collection=hr&mode=replace", files={"file": ("x.jsonl", jsonl)}, headers=api.editor)
        assert r.status_code == 200 and (r.json()["created"], r.json()["updated"]) == (1, 1)
        assert c.get("/v1/faq?collection=hr", headers=api.reader).json()["total"] == 2

    def test_a_bad_row_is_a_422_listing_rows_and_nothing_is_imported(self, api: World) -> None:
        c = api.client
        data = (CSV + ",no question\nNo answer?,\n").encode()
        r = c.post("/v1/faq/import?collection=hr", files={"file": ("faq.csv", data)}, headers=api.editor)
        assert r.status_code == 422
        assert [(e["loc"], e["type"]) for e in r.json()["detail"]] == [
            (["file", "row", 3, "question"], "faq_import"),
            (["file", "row", 4, "answer"], "faq_import"),
        ]
        assert c.get("/v1/faq?collection=hr", headers=api.reader).json()["total"] == 0
        r = c.post(
            "/v1/faq/import?collection=hr&mode=merge", files={"file": ("f.csv", CSV.encode())}, headers=api.editor
        )
        assert r.status_code == 422
        r = c.post("/v1/faq/import?collection=nope", files={"file": ("f.csv", CSV.encode())}, headers=api.editor)
        assert r.status_code == 404


class TestMatch:
    def test_match_returns_the_approved_answer_marked_faq(self, api: World) -> None:
        entry = api.create()
        r = api.client.post("/v1/faq/match", json={"collection": "hr", "question": "how long is the probation period"},
                            headers=api.reader)  # fmt: skip
        body = r.json()
        assert r.status_code == 200 and body["match"]["entry_id"] == entry["id"]
        assert (
            body["match"]["source"] == "faq" and body["match"]["answer"] == "Six months." and body["threshold"] == 0.82
        )
        r = api.client.post("/v1/faq/match", json={"collection": "hr", "question": "What is the capital of Australia?"},
                            headers=api.reader)  # fmt: skip
        assert r.json()["match"] is None and all(x["score"] < 0.82 for x in r.json()["candidates"])


class TestAccess:
    def test_a_reader_cannot_write(self, api: World) -> None:
        c, entry = api.client, api.create()
        body = {"collection": "hr", "question": "Q?", "answer": "A"}
        assert c.post("/v1/faq", json=body, headers=api.reader).status_code == 403
        assert c.put(f"/v1/faq/{entry['id']}", json={"answer": "x"}, headers=api.reader).status_code == 403
        assert c.delete(f"/v1/faq/{entry['id']}", headers=api.reader).status_code == 403
        assert c.post(f"/v1/faq/{entry['id']}/restore/1", headers=api.reader).status_code == 403
        files = {"file": ("f.csv", CSV.encode())}
        assert c.post("/v1/faq/import?collection=hr", files=files, headers=api.reader).status_code == 403
        assert c.get("/v1/faq?collection=hr").status_code == 401

    def test_tenants_never_see_or_change_each_others_entries(self, api: World) -> None:
        c, entry = api.client, api.create()
        theirs = c.post("/v1/faq", json={"collection": "hr", "question": "Is overtime paid?", "answer": "globex"},
                        headers=api.other).json()  # fmt: skip
        assert [e["id"] for e in c.get("/v1/faq?collection=hr", headers=api.other).json()["entries"]] == [theirs["id"]]
        for method, path in (
            ("GET", f"/v1/faq/{entry['id']}"),
            ("GET", f"/v1/faq/{entry['id']}/versions"),
            ("PUT", f"/v1/faq/{entry['id']}"),
            ("DELETE", f"/v1/faq/{entry['id']}"),
            ("POST", f"/v1/faq/{entry['id']}/restore/1"),
        ):
            r = c.request(method, path, json={"answer": "hijacked"}, headers=api.other)
            assert r.status_code == 404, (method, path, r.text)
        match = {"collection": "hr", "question": "How long is the probation period?"}
        assert c.post("/v1/faq/match", json=match, headers=api.other).json()["match"] is None
        assert c.post("/v1/faq/match", json={**match, "question": "Is overtime paid?"},
                      headers=api.reader).json()["match"] is None  # fmt: skip
        assert c.get(f"/v1/faq/{entry['id']}", headers=api.reader).json()["answer"] == "Six months."


def test_disabled_library_is_404(tmp_path: Path) -> None:
    svc = make_services(make_settings(tmp_path, answer={"faq": False, "verifier": "none"}))
    try:
        assert svc.faq is None
        with TestClient(create_app(svc.settings, services=svc)) as client:
            r = client.get("/v1/faq?collection=hr")
            assert r.status_code == 404 and "disabled" in r.json()["detail"]
    finally:
        svc.close()
