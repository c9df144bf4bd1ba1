"""Continuous scoring of live answers: sample a share on the request path in O(1), score later, alert on drift.

- `LiveSampler.offer()` is what the answer service calls with every final answer: a coin flip and a non-blocking
  put on a bounded queue (full → the sample is dropped and counted). A writer thread stores the samples as
  `pending`. Answers produced by an evaluation run are not live traffic and are left out (`EVALUATING`).
- `LiveScorer.tick()` scores pending samples with the configured judge — the fast verifier (default: share of answer
  sentences whose cited passage supports them) or Ragas faithfulness with a local/OpenAI judge — then checks each
  touched collection: when the rolling faithfulness of the last `window` scored samples falls below `threshold`, an
  alert is raised once (log record + optional webhook) and stays open until the rolling value recovers.
- Run by `InProcessScheduler` in the embedded profile, by Celery beat (`eval/tasks.py`) in the scaled one.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

from app.core.domain import Query
from app.core.grounding import Answer
from app.core.runtime import EVALUATING
from eval.results import FAITHFULNESS, CaseRow
from eval.store import SqlEvalStore

log = logging.getLogger(__name__)
RowScorer = Callable[[Sequence[CaseRow]], None]  # sets row.scores["faithfulness"]
Notifier = Callable[[str, dict[str, Any]], str]  # (url, payload) → outcome


class LiveSampler:
    """Takes a share of live answers off the request path (never blocks, never raises into the request)."""

    def __init__(self, store: SqlEvalStore, share: float, max_queue: int = 1000, seed: int | None = None) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError("live share must be between 0 and 1")
        self.store, self.share = store, share
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(max_queue)
        self._rng = random.Random(seed)
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def offer(self, query: Query, answer: Answer) -> bool:
        """Maybe keep this answer for scoring; True when it was queued."""
        if self.share <= 0 or EVALUATING.get() or self._rng.random() >= self.share:
            return False
        sample = {
            "tenant": query.tenant,
            "collection": query.collection,
            "request_id": answer.request_id,
            "refused": int(answer.refused),
            "support": float(answer.support),
            "sample": {
                "question": answer.question,
                "answer": answer.answer,
                "source": answer.source,
                "contexts": [p.text for p in answer.passages],
                "verdicts": [v.to_dict() for v in answer.verdicts],
                "provenance": answer.provenance,
            },
        }
        try:
            self._queue.put_nowait(sample)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def flush(self) -> int:
        """Store what is queued now (the writer thread calls this; tests call it directly)."""
        batch: list[dict[str, Any]] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            try:
                self.store.add_live(batch)
            except Exception:
                log.exception("could not store %d live sample(s)", len(batch))
                return 0
        return len(batch)

    def start(self, interval_s: float = 1.0) -> None:
        if self.share <= 0 or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.flush()
            self.flush()

        self._thread = threading.Thread(target=loop, name="live-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def fast_faithfulness(verify: Callable[[str, list[tuple[str, str]]], list[bool]]) -> RowScorer:
    """A row scorer from the fast verifier: the share of answer sentences supported by one of their cited passages
    (sentences citing nothing count as unsupported)."""

    def score(rows: Sequence[CaseRow]) -> None:
        from eval.results import Score

        for row in rows:
            sentences = [v for v in row.verdicts if v.get("kept", True)]
            if not sentences:
                continue
            ok = 0
            for v in sentences:
                cited = [row.contexts[n - 1] for n in v.get("citations") or () if 1 <= n <= len(row.contexts)]
                if cited and any(verify(row.question, [(v["sentence"], c) for c in cited])):
                    ok += 1
            row.scores[FAITHFULNESS] = Score(ok / len(sentences))

    return score


class LiveScorer:
    """Scores pending live samples and raises (and closes) drift alerts."""

    def __init__(
        self,
        store: SqlEvalStore,
        scorer: RowScorer,
        judge_name: str,
        window: int = 50,
        min_samples: int = 10,
        threshold: float = 0.7,
        webhook_url: str | None = None,
        notify: Notifier | None = None,
        batch: int = 20,
    ) -> None:
        self.store, self.scorer, self.judge_name = store, scorer, judge_name
        self.window, self.min_samples, self.threshold, self.batch = window, min_samples, threshold, batch
        self.webhook_url, self.notify = webhook_url, notify
        self._lock = threading.Lock()

    def tick(self) -> int:
        """Score up to `batch` pending samples; returns how many were handled."""
        with self._lock:  # one tick at a time (the scheduler and a manual call must not score twice)
            pending = self.store.pending_live(self.batch)
            touched: set[tuple[str, str]] = set()
            for s in pending:
                self._score_one(s)
                touched.add((s["tenant"], s["collection"]))
            for tenant, collection in sorted(touched):
                self.check_alert(tenant, collection)
            return len(pending)

    def _score_one(self, s: dict[str, Any]) -> None:
        data = s["sample"]
        if s["refused"] or data.get("source") != "documents":  # refusals and FAQ answers claim nothing to judge
            why = "refusal" if s["refused"] else str(data.get("source"))
            self.store.score_live(s["id"], None, self.judge_name, why, status="skipped")
            return
        row = CaseRow(
            str(s["id"]),
            data["question"],
            (),
            True,
            answer=data["answer"],
            contexts=data["contexts"],
            verdicts=data["verdicts"],
        )
        try:
            self.scorer([row])
            got = row.scores.get(FAITHFULNESS)
        except Exception as e:  # a judge fault fails this sample, counted; the scheduler goes on
            log.warning("live sample %s: judge failed: %s", s["id"], e)
            self.store.score_live(s["id"], None, self.judge_name, f"judge_failed: {e}")
            return
        if got is None or got.value is None:
            self.store.score_live(s["id"], None, self.judge_name, got.error if got else "not scored")
        else:
            self.store.score_live(s["id"], float(got.value), self.judge_name, None)

    def rolling(self, tenant: str, collection: str) -> tuple[float | None, int]:
        last = self.store.recent_faithfulness(tenant, collection, self.window)
        return (sum(last) / len(last) if last else None), len(last)

    def check_alert(self, tenant: str, collection: str) -> dict[str, Any] | None:
        """Raise an alert when the rolling faithfulness is below the threshold and none is open; close the open one
        when it has recovered. Returns the alert raised now, if any."""
        value, n = self.rolling(tenant, collection)
        current = self.store.open_alert(tenant, collection, FAITHFULNESS)
        if value is None or n < self.min_samples:
            return None
        if value >= self.threshold:
            if current is not None:
                self.store.close_alert(current["id"])
                log.info("live faithfulness recovered", extra={"tenant": tenant, "collection": collection})
            return None
        if current is not None:
            return None  # once per incident
        alert_id = self.store.raise_alert(tenant, collection, FAITHFULNESS, value, self.threshold)
        payload = {
            "alert_id": alert_id,
            "tenant": tenant,
            "collection": collection,
            "metric": FAITHFULNESS,
            "value": round(value, 4),
            "threshold": self.threshold,
            "window": n,
        }
        log.warning(
            "live faithfulness %.3f below %.2f on %s/%s (last %d answers)",
            value,
            self.threshold,
            tenant,
            collection,
            n,
            extra={"alert": payload},
        )
        if self.webhook_url and self.notify is not None:
            self.store.note_alert(
                alert_id, self.notify(self.webhook_url, {"event": "grounded.faithfulness_alert", **payload})
            )
        return payload


class InProcessScheduler:
    """Calls `tick` every `interval_s` seconds in a daemon thread (the embedded profile's stand-in for beat)."""

    def __init__(self, tick: Callable[[], int], interval_s: float) -> None:
        self.tick, self.interval_s = tick, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                try:
                    self.tick()
                except Exception:
                    log.exception("live scoring tick failed")

        self._thread = threading.Thread(target=loop, name="live-scorer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
