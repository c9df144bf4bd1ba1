"""/v1/eval: suites (row-level validation), background runs with progress, results, reports, comparisons, roles and
tenancy, and live scoring of a share of real answers with an alert raised once per incident."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from tests.conftest import DEMO_DIR, make_services, make_settings

ADMIN = "eval-admin-key"
ROWS = [
    {
        "id": "leave",
        "question": "How many days of paid annual leave do full-time employees get?",
        "reference_answer": "25 days of paid annual leave per calendar year.",
        "reference_document_ids": ["employee-handbook.md"],
        "tags": ["handbook"],
    },
    {
        "id": "parking",
        "question": "What colour are the parking permits for the staff car park in Lisbon?",
        "answerable": False,
        "tags": ["unanswerable"],
    },
    {
        "id": "password",
        "question": "How long must passwords be?",
        "reference_document_ids": ["it-security-policy.txt"],
        "tags": ["security"],
    },
]


def h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], Any]]:
    settings = make_settings(
        tmp_path_factory.mktemp("eval-api"),
        admin_key=ADMIN,
        rate_limit_per_s=0,
        eval={"live_share": 1.0, "live_interval_s": 3600},
    )
    svc = make_services(settings)
    with TestClient(create_app(svc.settings, services=svc)) as client:
        keys = {}
        for name, role, tenant in (
            ("eval", "evaluator", "acme"),
            ("reader", "reader", "acme"),
            ("editor", "editor", "acme"),
            ("other", "evaluator", "globex"),
        ):
            body = {"role": role, "tenant": tenant}
            keys[name] = client.post("/v1/keys", json=body, headers=h(ADMIN)).json()["key"]
        assert client.post("/v1/collections", json={"name": "demo"}, headers=h(keys["editor"])).status_code == 201
        files = [("files", (p.name, p.read_bytes())) for p in sorted(Path(DEMO_DIR).iterdir())]
        r = client.post("/v1/collections/demo/documents", files=files, headers=h(keys["editor"]))
        assert r.status_code == 202, r.text
        assert svc.runner.wait_idle(120)
        yield client, keys, svc
    svc.close()


def wait_run(client: TestClient, key: str, run_id: str) -> dict[str, Any]:
    for _ in range(300):
        r = client.get(f"/v1/eval/runs/{run_id}", headers=h(key))
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("succeeded", "failed"):
            return r.json()
        time.sleep(0.1)
    raise AssertionError("run did not finish")


class TestSuites:
    def test_create_is_idempotent_by_content(self, world) -> None:
        client, keys, _ = world
        first = client.post("/v1/eval/suites", json={"name": "smoke", "rows": ROWS}, headers=h(keys["eval"]))
        assert first.status_code == 201 and first.json()["cases"] == 3
        again = client.post("/v1/eval/suites", json={"name": "smoke", "rows": ROWS}, headers=h(keys["eval"]))
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        listed = client.get("/v1/eval/suites", headers=h(keys["eval"])).json()["suites"]
        assert first.json()["id"] in {s["id"] for s in listed}

    def test_bad_rows_are_reported_by_row_and_nothing_is_stored(self, world) -> None:
        client, keys, _ = world
        before = client.get("/v1/eval/suites", headers=h(keys["eval"])).json()["suites"]
        bad = [{"id": "a", "question": "ok?"}, {"id": "a", "question": ""}, {"question": "x", "answerable": "maybe"}]
        r = client.post("/v1/eval/suites", json={"name": "bad", "rows": bad}, headers=h(keys["eval"]))
        assert r.status_code == 422
        errors = " ".join(r.json()["errors"])
        assert "row 2" in errors and "row 3" in errors and "answerable" in errors
        assert client.get("/v1/eval/suites", headers=h(keys["eval"])).json()["suites"] == before

    def test_roles_and_tenants(self, world) -> None:
        client, keys, _ = world
        sid = client.post("/v1/eval/suites", json={"name": "smoke", "rows": ROWS}, headers=h(keys["eval"])).json()["id"]
        assert (
            client.post("/v1/eval/suites", json={"name": "x", "rows": ROWS}, headers=h(keys["reader"])).status_code
            == 403
        )
        assert client.get(f"/v1/eval/suites/{sid}", headers=h(keys["other"])).status_code == 404
        assert client.get("/v1/eval/suites", headers={}).status_code == 401


class TestRuns:
    def test_background_run_with_progress_result_report_and_compare(self, world) -> None:
        client, keys, _ = world
        sid = client.post("/v1/eval/suites", json={"name": "smoke", "rows": ROWS}, headers=h(keys["eval"])).json()["id"]
        body = {"suite_id": sid, "collection": "demo", "judge": "none"}
        started = client.post("/v1/eval/runs", json=body, headers=h(keys["eval"]))
        assert started.status_code == 202, started.text
        assert started.json()["status"] in ("queued", "running", "succeeded")
        run = wait_run(client, keys["eval"], started.json()["run_id"])
        assert run["status"] == "succeeded", run
        assert run["progress"]["done"] == run["progress"]["total"] == 3
        result = run["result"]
        assert {r["id"] for r in result["rows"]} == {"leave", "parking", "password"}
        agg = result["aggregate"]
        for metric in (
            "refusal_accuracy",
            "false_refusal_rate",
            "ndcg@10",
            "recall@10",
            "latency_ms",
            "id_based_context_recall",
        ):
            assert metric in agg
        assert "faithfulness" not in agg  # judge none: LLM metrics are not run, not reported as 0
        assert result["summaries"]["refusal_accuracy"]["n"] == 1
        # A second run, then the comparison and the reports.
        second = wait_run(
            client, keys["eval"], client.post("/v1/eval/runs", json=body, headers=h(keys["eval"])).json()["run_id"]
        )
        cmp = client.get(f"/v1/eval/runs/{run['run_id']}/compare/{second['run_id']}", headers=h(keys["eval"]))
        assert cmp.status_code == 200 and "metrics" in cmp.json() and "regressions" in cmp.json()
        html = client.get(f"/v1/eval/runs/{second['run_id']}/report?baseline={run['run_id']}", headers=h(keys["eval"]))
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html") and "<svg" in html.text
        junit = client.get(f"/v1/eval/runs/{second['run_id']}/report?format=junit", headers=h(keys["eval"]))
        assert junit.status_code == 200 and "<testsuite" in junit.text
        assert client.get(f"/v1/eval/runs/{run['run_id']}", headers=h(keys["other"])).status_code == 404
        listed = client.get("/v1/eval/runs", headers=h(keys["eval"])).json()["runs"]
        assert {run["run_id"], second["run_id"]} <= {r["run_id"] for r in listed}

    @pytest.mark.parametrize(
        ("body", "status", "words"),
        [
            ({"suite_id": "s-unknown", "collection": "demo", "judge": "none"}, 404, "suite"),
            ({"collection": "demo", "judge": "none"}, 422, "suite_id"),
            ({"suite_id": "SUITE", "collection": "nope", "judge": "none"}, 404, "nope"),
            ({"suite_id": "SUITE", "collection": "demo", "judge": "gpt"}, 422, "valid: none, local, openai"),
            (
                {"suite_id": "SUITE", "collection": "demo", "judge": "none", "metrics": ["faithfulness"]},
                422,
                "need an LLM judge",
            ),
            ({"suite_id": "SUITE", "collection": "demo", "judge": "none", "metrics": ["bleu_typo"]}, 422, "unknown"),
        ],
    )
    def test_bad_runs_are_refused_before_starting(self, world, body, status, words) -> None:
        client, keys, _ = world
        sid = client.post("/v1/eval/suites", json={"name": "smoke", "rows": ROWS}, headers=h(keys["eval"])).json()["id"]
        if body.get("suite_id") == "SUITE":
            body = {**body, "suite_id": sid}
        before = len(client.get("/v1/eval/runs", headers=h(keys["eval"])).json()["runs"])
        r = client.post("/v1/eval/runs", json=body, headers=h(keys["eval"]))
        assert r.status_code == status and words in r.text, r.text
        assert len(client.get("/v1/eval/runs", headers=h(keys["eval"])).json()["runs"]) == before

    def test_unknown_and_foreign_runs(self, world) -> None:
        client, keys, _ = world
        assert client.get("/v1/eval/runs/run-nope", headers=h(keys["eval"])).status_code == 404
        assert client.get("/v1/eval/runs/run-a/compare/run-b", headers=h(keys["eval"])).status_code == 404


class TestLive:
    def test_live_answers_are_sampled_and_scored_off_the_request_path(self, world) -> None:
        client, keys, svc = world
        for q in (
            "How many days of paid annual leave do full-time employees get?",
            "How long must passwords be?",
            "What is the capital of Mongolia?",
        ):
            r = client.post("/v1/answer", json={"question": q, "collection": "demo"}, headers=h(keys["reader"]))
            assert r.status_code == 200
        scored = client.post("/v1/eval/live/score", headers=h(keys["eval"]))
        assert scored.status_code == 200 and scored.json()["scored"] >= 3
        trend = client.get("/v1/eval/live?collection=demo", headers=h(keys["eval"])).json()
        demo = trend["collections"]["demo"]
        assert demo["samples"] >= 3 and demo["pending"] == 0
        assert demo["scored"] + demo["failed"] + demo["skipped"] == demo["samples"]
        assert 0.0 <= demo["refusal_rate"] <= 1.0
        # Evaluation runs are not live traffic: the runs above added no samples beyond the three answers.
        assert demo["samples"] == 3
        other = client.get("/v1/eval/live", headers=h(keys["other"])).json()
        assert other["collections"] == {}


def test_runs_are_scoped_by_acl_groups(world) -> None:
    """A run made with more ACL groups holds passages a key with fewer groups may not see: for that key it is 404."""
    client, _, _ = world

    def key(groups: list[str]) -> str:
        body = {"role": "evaluator", "tenant": "acme", "groups": groups}
        return client.post("/v1/keys", json=body, headers=h(ADMIN)).json()["key"]

    hr, none, wide = key(["hr"]), key([]), key(["hr", "legal"])
    sid = client.post("/v1/eval/suites", json={"name": "g", "rows": ROWS[:1]}, headers=h(hr)).json()["id"]
    run_id = client.post(
        "/v1/eval/runs", json={"suite_id": sid, "collection": "demo", "judge": "none"}, headers=h(hr)
    ).json()["run_id"]
    assert wait_run(client, hr, run_id)["status"] == "succeeded"
    assert client.get(f"/v1/eval/runs/{run_id}", headers=h(none)).status_code == 404
    assert run_id not in {r["run_id"] for r in client.get("/v1/eval/runs", headers=h(none)).json()["runs"]}
    assert client.get(f"/v1/eval/runs/{run_id}", headers=h(wide)).status_code == 200
