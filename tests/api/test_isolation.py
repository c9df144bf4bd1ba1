"""Randomized tenant and ACL isolation: many tenants, groups, documents and keys; every endpoint that returns
content is queried with every key, and nothing outside the key's tenant and groups may ever come back.

Each document carries a unique marker word; a leak is any marker (in a chunk, an answer, a citation, a document or
chunk listing, a chat completion or a stream) whose document the key may not see. Evaluation results (#6) join this
test when they exist.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from tests.conftest import make_services, make_settings

ADMIN = "isolation-admin-key"
TENANTS = ["acme", "globex", "initech"]
GROUPS = ["hr", "legal", "eng", "sales"]
TOPICS = ["annual leave policy", "travel expenses", "security badges", "parental leave", "remote work equipment"]
SEED = 20261130


@dataclass
class Doc:
    tenant: str
    collection: str
    filename: str
    marker: str
    groups: tuple[str, ...]
    id: str = ""


@dataclass
class Key:
    tenant: str
    groups: tuple[str, ...]
    key: str
    seen: set[str] = field(default_factory=set)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def allowed(key: Key, doc: Doc) -> bool:
    return doc.tenant == key.tenant and (not doc.groups or bool(set(doc.groups) & set(key.groups)))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, list[Doc], list[Key]]]:
    rng = random.Random(SEED)
    svc = make_services(make_settings(tmp_path_factory.mktemp("iso"), admin_key=ADMIN, rate_limit_per_s=0))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    docs: list[Doc] = []
    keys: list[Key] = []
    with TestClient(create_app(svc.settings, services=svc)) as client:
        for tenant in TENANTS:
            editor = client.post("/v1/keys", json={"role": "editor", "tenant": tenant}, headers=admin).json()["key"]
            eh = {"Authorization": f"Bearer {editor}"}
            for collection in ("handbook", "policies"):
                assert client.post("/v1/collections", json={"name": collection}, headers=eh).status_code == 201
                for i in range(8):
                    groups = tuple(sorted(rng.sample(GROUPS, rng.choice([0, 0, 1, 1, 2]))))
                    marker = f"zq{tenant[:3]}{collection[:3]}{i}x"
                    topic = rng.choice(TOPICS)
                    text = f"The {topic} rules: reference {marker}. Employees must follow the {topic} rules."
                    d = Doc(tenant, collection, f"{marker}.txt", marker, groups)
                    form = {"acl_groups": ",".join(groups)} if groups else {}
                    r = client.post(
                        f"/v1/collections/{collection}/documents",
                        files=[("files", (d.filename, io.BytesIO(text.encode())))],
                        data=form,
                        headers=eh,
                    )
                    assert r.status_code == 202, r.text
                    d.id = r.json()["document_ids"][0]
                    docs.append(d)
            for role in ("reader", "reader", "evaluator", "editor"):
                groups = tuple(sorted(rng.sample(GROUPS, rng.choice([0, 1, 2]))))
                body = {"role": role, "tenant": tenant, "groups": list(groups)}
                keys.append(Key(tenant, groups, client.post("/v1/keys", json=body, headers=admin).json()["key"]))
        assert svc.runner.wait_idle(120)
        yield client, docs, keys
    svc.close()


def markers_in(payload: object, docs: list[Doc]) -> set[str]:
    text = str(payload)
    return {d.marker for d in docs if d.marker in text}


def test_no_endpoint_leaks_across_tenants_or_groups(world) -> None:
    client, docs, keys = world
    by_marker = {d.marker: d for d in docs}
    rng = random.Random(SEED + 1)
    checks = 0
    for key in keys:
        for collection in ("handbook", "policies"):
            # Searches: the topic words match many documents of every tenant and group.
            for _ in range(4):
                query = f"{rng.choice(TOPICS)} rules reference"
                for path, body in (
                    ("/v1/retrieve", {"query": query, "collection": collection, "top_k": 20}),
                    ("/v1/answer", {"question": query, "collection": collection, "top_k": 20}),
                    (
                        "/v1/chat/completions",
                        {"model": collection, "messages": [{"role": "user", "content": query}], "top_k": 20},
                    ),
                ):
                    r = client.post(path, json=body, headers=key.headers)
                    assert r.status_code == 200, r.text
                    found = markers_in(r.json(), docs)
                    assert all(allowed(key, by_marker[m]) for m in found), (path, key.tenant, key.groups, found)
                    key.seen |= found
                    checks += 1
            # Streaming answers and chat streams carry the same content as server-sent events.
            query = f"{rng.choice(TOPICS)} rules reference"
            for path, body in (
                ("/v1/answer", {"question": query, "collection": collection, "top_k": 20, "stream": True}),
                (
                    "/v1/chat/completions",
                    {"model": collection, "messages": [{"role": "user", "content": query}], "stream": True},
                ),
            ):
                r = client.post(path, json=body, headers=key.headers)
                assert r.status_code == 200, r.text
                found = {d.marker for d in docs if d.marker in r.text}
                assert all(allowed(key, by_marker[m]) for m in found), (path, key.tenant, key.groups, found)
                key.seen |= found
                checks += 1
            models = client.get("/v1/models", headers=key.headers).json()["data"]
            assert {m["owned_by"] for m in models} == {key.tenant}
            listing = client.get(f"/v1/collections/{collection}/documents?limit=1000", headers=key.headers).json()
            listed = {d["id"] for d in listing["documents"]}
            expected = {d.id for d in docs if d.collection == collection and allowed(key, d)}
            assert listed == expected
            checks += 1
        # Direct reads by id: visible documents answer, every other one is a 404 (never a 403: no existence leak).
        for d in rng.sample(docs, 16):
            doc = client.get(f"/v1/documents/{d.id}", headers=key.headers)
            chunks = client.get(f"/v1/documents/{d.id}/chunks", headers=key.headers)
            if allowed(key, d):
                assert doc.status_code == chunks.status_code == 200
                assert markers_in(chunks.json(), docs) == {d.marker}
            else:
                assert doc.status_code == chunks.status_code == 404
                assert d.marker not in doc.text + chunks.text
            checks += 2
    assert checks > 250
    # The searches did find content: isolation is not passing because nothing comes back.
    assert sum(len(k.seen) for k in keys) > 40


def test_request_filters_cannot_widen_the_scope(world) -> None:
    client, docs, keys = world
    key = keys[0]
    for flt in (
        {"must": [{"key": "tenant", "match": {"value": "globex"}}]},
        {"should": [{"key": "acl_groups", "match": {"any": GROUPS}}]},
    ):
        r = client.post(
            "/v1/retrieve", json={"query": "leave", "collection": "handbook", "filters": flt}, headers=key.headers
        )
        assert r.status_code == 422
    other = next(k for k in keys if k.tenant != key.tenant)
    foreign = next(d for d in docs if d.tenant == other.tenant)
    assert client.delete(f"/v1/documents/{foreign.id}", headers=key.headers).status_code in (403, 404)
    assert client.get(f"/v1/documents/{foreign.id}", headers=other.headers).status_code in (200, 404)


def _wait_run(client: TestClient, key: Key, run_id: str) -> dict:
    import time

    for _ in range(600):
        r = client.get(f"/v1/eval/runs/{run_id}", headers=key.headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("succeeded", "failed"):
            return r.json()
        time.sleep(0.1)
    raise AssertionError(f"evaluation run {run_id} did not finish")


def test_evaluation_results_never_leak(world) -> None:
    """Each tenant's evaluator runs a suite over both collections: its results (answers, passages, citations, reports,
    comparisons) hold only what that key may see, and every other key gets a 404 (or a 403 by role) for them."""
    client, docs, keys = world
    by_marker = {d.marker: d for d in docs}
    rows = [
        {"id": f"t{i}", "question": f"{t} rules reference", "reference_document_ids": ["x.txt"]}
        for i, t in enumerate(TOPICS)
    ]
    runs: list[tuple[Key, str]] = []
    for key in (k for k in keys if client.get("/v1/eval/suites", headers=k.headers).status_code == 200):
        suite = client.post("/v1/eval/suites", json={"name": "iso", "rows": rows}, headers=key.headers).json()
        for collection in ("handbook", "policies"):
            body = {"suite_id": suite["id"], "collection": collection, "judge": "none"}
            started = client.post("/v1/eval/runs", json=body, headers=key.headers)
            assert started.status_code == 202, started.text
            run = _wait_run(client, key, started.json()["run_id"])
            assert run["status"] == "succeeded", run
            found = markers_in(run["result"], docs)
            assert all(allowed(key, by_marker[m]) for m in found), (key.tenant, key.groups, found)
            key.seen |= found
            report = client.get(f"/v1/eval/runs/{run['run_id']}/report", headers=key.headers).text
            assert all(allowed(key, by_marker[m]) for m in markers_in(report, docs))
            runs.append((key, run["run_id"]))
    assert runs, "no evaluator key in the world"
    assert any(markers_in(client.get(f"/v1/eval/runs/{rid}", headers=k.headers).json(), docs) for k, rid in runs)
    for owner, run_id in runs:
        for key in keys:
            r = client.get(f"/v1/eval/runs/{run_id}", headers=key.headers)
            c = client.get(f"/v1/eval/runs/{run_id}/compare/{run_id}", headers=key.headers)
            if key is owner:
                assert r.status_code == c.status_code == 200
            elif key.tenant != owner.tenant or not set(owner.groups) <= set(key.groups):
                assert r.status_code in (403, 404) and c.status_code in (403, 404), (r.status_code, c.status_code)
                assert not markers_in(r.text + c.text, docs)
        live = client.get("/v1/eval/live", headers=owner.headers).json()
        assert all(a["collection"] in ("handbook", "policies") for a in live["alerts"])
