"""The evaluation store on both databases it runs on: SQLite (embedded) and PostgreSQL (scaled profile)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.adapters.metadata_db import SqlMetadataStore
from app.core.errors import NotFoundError
from eval.results import Suite, SuiteCase
from eval.store import SqlEvalStore

SUITE = Suite("s-1", "smoke", (SuiteCase("q1", "How much leave?", "25 days", ("hb.md",), (), True, ("hr",)),))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlEvalStore]:
    url = f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    metadata = SqlMetadataStore(url)
    yield SqlEvalStore(metadata)
    metadata.close()


def test_suites_are_per_tenant_and_content_addressed(store: SqlEvalStore) -> None:
    assert store.save_suite("acme", SUITE, "k1") is True
    assert store.save_suite("acme", SUITE, "k1") is False
    assert store.get_suite("acme", "s-1") == SUITE
    assert store.save_suite("globex", SUITE, "k2") is True  # the same suite, another tenant: its own copy
    with pytest.raises(NotFoundError):
        store.get_suite("initech", "s-1")
    assert [s["id"] for s in store.list_suites("acme")] == ["s-1"]


def test_run_lifecycle_and_interrupted_runs(store: SqlEvalStore) -> None:
    store.save_suite("acme", SUITE, "k1")
    store.create_run("acme", "run-1", "s-1", "hr", "none", ["ndcg@10"], "k1", ("hr",))
    store.set_progress("run-1", "answering", 1, 2)
    run = store.get_run("acme", "run-1")
    assert (run["status"], run["progress"]["done"], run["groups"]) == ("running", 1, ["hr"])
    store.finish_run("run-1", {"aggregate": {"ndcg@10": 1.0}, "rows": []})
    assert store.get_run("acme", "run-1")["result"]["aggregate"] == {"ndcg@10": 1.0}
    with pytest.raises(NotFoundError):
        store.get_run("globex", "run-1")
    store.create_run("acme", "run-2", "s-1", "hr", "none", [], "k1", None)
    assert store.fail_unfinished("restarted") == 1
    assert store.get_run("acme", "run-2")["status"] == "failed" and store.get_run("acme", "run-2")["groups"] is None
    assert [r["run_id"] for r in store.list_runs("acme")] == ["run-2", "run-1"]


def test_live_samples_and_alerts(store: SqlEvalStore) -> None:
    sample = {"tenant": "acme", "collection": "hr", "request_id": "r", "refused": 0, "support": 0.9, "sample": {}}
    store.add_live([sample, sample])
    ids = [r["id"] for r in store.pending_live(10)]
    store.score_live(ids[0], 0.5, "fast", None)
    store.score_live(ids[1], None, "fast", "refusal", status="skipped")
    assert store.recent_faithfulness("acme", "hr", 10) == [0.5] and store.pending_live(10) == []
    alert = store.raise_alert("acme", "hr", "faithfulness", 0.5, 0.7)
    assert store.open_alert("acme", "hr", "faithfulness")["id"] == alert
    store.close_alert(alert)
    assert store.open_alert("acme", "hr", "faithfulness") is None
    assert store.list_alerts("globex") == [] and len(store.list_alerts("acme")) == 1
