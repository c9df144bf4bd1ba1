"""Live scoring: sampling off the request path, scoring pending samples, alerts raised once per incident."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from app.adapters.metadata_db import SqlMetadataStore
from app.core.domain import Query
from app.core.grounding import Answer, SentenceVerdict
from app.core.runtime import EVALUATING
from eval.live import InProcessScheduler, LiveSampler, LiveScorer, fast_faithfulness
from eval.live_trend import live_trend
from eval.results import FAITHFULNESS, CaseRow, Score
from eval.store import SqlEvalStore


@pytest.fixture
def store(tmp_path: Path) -> SqlEvalStore:
    return SqlEvalStore(SqlMetadataStore(f"sqlite:///{tmp_path / 'm.db'}"))


def answer(refused: bool = False, source: str = "documents", support: float = 0.9) -> Answer:
    verdicts = () if refused else (SentenceVerdict("Leave is 25 days.", (1,), (1,), True, 0.9),)
    return Answer(
        "How much leave?",
        "Leave is 25 days. [1]",
        refused,
        None,
        support=support,
        verdicts=verdicts,
        source=source,
        request_id="r1",
    )


def query(collection: str = "hr", tenant: str = "acme") -> Query:
    return Query("How much leave?", collection, tenant, 5)


class ScriptedScorer:
    """Gives each row the next faithfulness value (None → a judge failure)."""

    def __init__(self, *values: float | None) -> None:
        self.values = list(values)

    def __call__(self, rows: Sequence[CaseRow]) -> None:
        for r in rows:
            v = self.values.pop(0)
            r.scores[FAITHFULNESS] = Score(v, None if v is not None else "judge_failed: unparseable")


class TestLiveSampler:
    def test_share_zero_keeps_nothing(self, store: SqlEvalStore) -> None:
        s = LiveSampler(store, 0.0)
        assert not s.offer(query(), answer()) and s.flush() == 0

    def test_samples_are_stored_pending_only_when_flushed(self, store: SqlEvalStore) -> None:
        s = LiveSampler(store, 1.0)
        assert s.offer(query(), answer())
        assert store.pending_live(10) == []  # nothing written on the request path
        assert s.flush() == 1
        (row,) = store.pending_live(10)
        assert row["tenant"] == "acme" and row["sample"]["question"] == "How much leave?"

    def test_evaluation_answers_are_not_live_traffic(self, store: SqlEvalStore) -> None:
        s = LiveSampler(store, 1.0)
        token = EVALUATING.set(True)
        try:
            assert not s.offer(query(), answer())
        finally:
            EVALUATING.reset(token)

    def test_a_full_queue_drops_and_counts(self, store: SqlEvalStore) -> None:
        s = LiveSampler(store, 1.0, max_queue=2)
        results = [s.offer(query(), answer()) for _ in range(4)]
        assert results == [True, True, False, False] and s.dropped == 2

    def test_share_must_be_a_fraction(self, store: SqlEvalStore) -> None:
        with pytest.raises(ValueError, match="between 0 and 1"):
            LiveSampler(store, 1.5)


class TestLiveScorer:
    def _feed(self, store: SqlEvalStore, n: int, **kw: Any) -> None:
        s = LiveSampler(store, 1.0)
        for _ in range(n):
            s.offer(query(), answer(**kw))
        s.flush()

    def test_scores_skips_and_failures(self, store: SqlEvalStore) -> None:
        self._feed(store, 2)
        self._feed(store, 1, refused=True)
        self._feed(store, 1, source="faq")
        scorer = LiveScorer(store, ScriptedScorer(1.0, None), "fake", min_samples=100)
        assert scorer.tick() == 4
        rows = store.live_rows("acme", "hr", None)
        assert [r["status"] for r in rows] == ["scored", "failed", "skipped", "skipped"]
        assert rows[1]["error"].startswith("judge_failed") and rows[0]["faithfulness"] == 1.0
        assert scorer.tick() == 0  # nothing pending twice

    def test_alert_once_per_incident_with_webhook_then_recovery(self, store: SqlEvalStore) -> None:
        sent: list[dict[str, Any]] = []

        def notify(url: str, payload: dict[str, Any]) -> str:
            sent.append(payload)
            return "sent 200"

        values = [0.2] * 6 + [1.0] * 20 + [0.1] * 8
        scorer = LiveScorer(
            store,
            ScriptedScorer(*values),
            "fake",
            window=4,
            min_samples=3,
            threshold=0.7,
            webhook_url="http://hooks.example/alert",
            notify=notify,
            batch=2,
        )
        self._feed(store, 6)
        while scorer.tick():
            pass
        assert len(sent) == 1 and sent[0]["value"] < 0.7 and sent[0]["collection"] == "hr"
        alerts = store.list_alerts("acme", "hr")
        assert len(alerts) == 1 and alerts[0]["closed_at"] is None and alerts[0]["notified"] == "sent 200"
        self._feed(store, 20)  # recovery closes the incident
        while scorer.tick():
            pass
        assert store.list_alerts("acme", "hr")[0]["closed_at"] is not None
        self._feed(store, 8)  # a second incident: a second alert
        while scorer.tick():
            pass
        assert len(sent) == 2 and len(store.list_alerts("acme", "hr")) == 2

    def test_no_alert_before_min_samples(self, store: SqlEvalStore) -> None:
        self._feed(store, 2)
        scorer = LiveScorer(store, ScriptedScorer(0.0, 0.0), "fake", min_samples=3)
        scorer.tick()
        assert store.list_alerts("acme", "hr") == []


def test_fast_faithfulness_counts_supported_sentences() -> None:
    row = CaseRow(
        "1",
        "q",
        (),
        True,
        answer="a",
        contexts=["leave is 25 days", "other"],
        verdicts=[
            {"sentence": "Leave is 25 days.", "citations": [1]},
            {"sentence": "Leave is 40 days.", "citations": [2]},
            {"sentence": "Removed.", "citations": [1], "kept": False},
        ],
    )
    fast_faithfulness(lambda q, pairs: ["25" in s and "25" in p for s, p in pairs])([row])
    assert row.scores[FAITHFULNESS].value == 0.5


def test_trend_by_collection_and_tenant(store: SqlEvalStore) -> None:
    s = LiveSampler(store, 1.0)
    s.offer(query("hr"), answer(support=0.9))
    s.offer(query("hr"), answer(refused=True))
    s.offer(query("it", tenant="globex"), answer())
    s.flush()
    LiveScorer(store, ScriptedScorer(0.8, 0.6), "fake").tick()
    trend = live_trend(store, "acme", window=10)
    hr = trend["collections"]["hr"]
    assert set(trend["collections"]) == {"hr"}  # never another tenant's
    assert hr["samples"] == 2 and hr["scored"] == 1 and hr["skipped"] == 1
    assert hr["rolling_faithfulness"] == 0.8 and hr["refusal_rate"] == 0.5
    assert hr["support"]["bins"][-1]["count"] == 1 and hr["series"][0]["n"] == 2


def test_scheduler_ticks_in_the_background() -> None:
    import threading

    ticked = threading.Event()
    sched = InProcessScheduler(lambda: ticked.set() or 0, 0.01)
    sched.start()
    try:
        assert ticked.wait(2)
    finally:
        sched.stop()
