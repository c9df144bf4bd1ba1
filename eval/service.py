"""EvalService: suites and evaluation runs for the API and the CLI — store, run in the background, compare.

A run is a background job (one worker thread: a local judge uses every core, so runs queue rather than compete);
its progress is written to the run row as it goes. The CLI runs the same `execute()` in the foreground. Runs are
scoped by tenant, and the answers are produced with the caller's tenant and ACL groups, so an evaluation never sees
a document its caller could not retrieve.

Example:
    svc = EvalService(store, kb, verifier, judges)
    suite = svc.add_suite("acme", rows, "smoke", actor="key1")
    run = svc.start_run("acme", None, suite.id, "hr", judge="none", metrics=None, actor="key1")
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from app.core.errors import InvalidInputError, NotFoundError
from app.core.ports import Verifier
from eval.compare import compare
from eval.results import RunResult, Suite
from eval.runner import Answerer, Judge, Progress, QaEvaluator, select_metrics
from eval.store import SqlEvalStore
from eval.suites import suite_from_rows

log = logging.getLogger(__name__)
JUDGES = ("none", "local", "openai")
JudgeFactory = Callable[[str], Judge | None]  # judge kind → judge (built and warmed up once, then reused)


class EvalService:
    """Suites, runs (background), results and comparisons."""

    def __init__(
        self,
        store: SqlEvalStore,
        kb: Answerer,
        verifier: Verifier | None,
        judges: JudgeFactory,
        default_judge: str = "none",
        max_rows: int = 10000,
        collection_exists: Callable[[str, str], Any] | None = None,
    ) -> None:
        if default_judge not in JUDGES:
            raise ValueError(f"unknown judge {default_judge!r}; valid: {', '.join(JUDGES)}")
        self.store, self.kb, self.verifier, self.judges = store, kb, verifier, judges
        self.default_judge, self.max_rows = default_judge, max_rows
        self.collection_exists = collection_exists
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-run")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    # -- suites ------------------------------------------------------------------------------------------------
    def add_suite(self, tenant: str, rows: list[dict[str, Any]], name: str, actor: str) -> tuple[Suite, bool]:
        """Validate and store a suite; (suite, created). Invalid rows → SuiteError listing each one."""
        suite = suite_from_rows(rows, name, self.max_rows)
        return suite, self.store.save_suite(tenant, suite, actor)

    # -- runs --------------------------------------------------------------------------------------------------
    def _check(self, tenant: str, collection: str, judge: str, metrics: list[str] | None) -> list[str]:
        if judge not in JUDGES:
            raise InvalidInputError(f"unknown judge {judge!r}; valid: {', '.join(JUDGES)}", "judge")
        try:
            chosen = select_metrics(metrics, judge != "none")
        except ValueError as e:
            raise InvalidInputError(str(e), "metrics") from e
        if self.collection_exists is not None:
            self.collection_exists(tenant, collection)  # NotFoundError for unknown (or another tenant's) collections
        return chosen

    def start_run(
        self,
        tenant: str,
        groups: tuple[str, ...] | None,
        suite_id: str,
        collection: str,
        judge: str | None,
        metrics: list[str] | None,
        actor: str,
    ) -> dict[str, Any]:
        """Queue a run in the background; returns the run record (status "queued")."""
        judge = judge or self.default_judge
        chosen = self._check(tenant, collection, judge, metrics)
        suite = self.store.get_suite(tenant, suite_id)
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        record = self.store.create_run(tenant, run_id, suite.id, collection, judge, chosen, actor, groups)
        future = self._pool.submit(self._background, suite, collection, tenant, groups, judge, chosen, run_id)
        with self._lock:
            self._futures[run_id] = future
        return record

    def _background(
        self, suite: Suite, collection: str, tenant: str, groups: Any, judge: str, metrics: list[str], run_id: str
    ) -> None:
        try:
            result = self.execute(suite, collection, tenant, groups, judge, metrics, run_id=run_id, store=True)
            self.store.finish_run(run_id, result.to_dict())
        except Exception as e:  # the run fails with its reason; the service goes on
            log.exception("evaluation run %s failed", run_id)
            self.store.finish_run(run_id, None, f"{type(e).__name__}: {e}")
        finally:
            with self._lock:
                self._futures.pop(run_id, None)

    def execute(
        self,
        suite: Suite,
        collection: str,
        tenant: str,
        groups: tuple[str, ...] | None,
        judge: str,
        metrics: list[str] | None,
        run_id: str | None = None,
        progress: Progress | None = None,
        store: bool = False,
        config: dict[str, Any] | None = None,
    ) -> RunResult:
        """Run a suite now, in this thread. With `store`, progress is written to the run row (throttled)."""
        chosen = self._check(tenant, collection, judge, metrics)
        evaluator = QaEvaluator(self.kb, self.verifier, self.judges(judge) if judge != "none" else None)
        tick = self._progress_writer(run_id, progress) if store and run_id else progress
        return evaluator.run(suite, collection, tenant, groups, chosen, tick, run_id, config)

    def _progress_writer(self, run_id: str, also: Progress | None) -> Progress:
        last = [0.0, ""]

        def write(phase: str, done: int, total: int) -> None:
            now = time.monotonic()
            if phase != last[1] or done == total or now - last[0] > 1.0:
                last[0], last[1] = now, phase
                self.store.set_progress(run_id, phase, done, total)
            if also:
                also(phase, done, total)

        return write

    def record_run(self, tenant: str, groups: tuple[str, ...] | None, result: RunResult, actor: str) -> None:
        """Store a run executed in the foreground (the CLI), so it can be a later run's baseline."""
        self.store.create_run(
            tenant, result.run_id, result.suite_id, result.collection, result.judge, list(result.metrics), actor, groups
        )
        self.store.finish_run(result.run_id, result.to_dict())

    def get_run(self, tenant: str, groups: tuple[str, ...] | None, run_id: str) -> dict[str, Any]:
        """A run record (with its result once finished). A run made with ACL groups the caller does not all hold
        holds passages the caller may not see: it is "not found" for that caller, like another tenant's."""
        record = self.store.get_run(tenant, run_id)
        if not _visible(record["groups"], groups):
            raise NotFoundError(f"evaluation run {run_id!r} not found", "run")
        return record

    def list_runs(
        self, tenant: str, groups: tuple[str, ...] | None, collection: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        return [r for r in self.store.list_runs(tenant, collection, limit) if _visible(r["groups"], groups)]

    def result(self, tenant: str, groups: tuple[str, ...] | None, run_id: str) -> RunResult:
        """A finished run's result; NotFoundError when unknown, InvalidInputError while it has none."""
        record = self.get_run(tenant, groups, run_id)
        if record["result"] is None:
            raise InvalidInputError(f"run {run_id} has no result (status {record['status']})", "run")
        return RunResult.from_dict(record["result"])

    def compare(self, tenant: str, groups: tuple[str, ...] | None, base_id: str, new_id: str) -> dict[str, Any]:
        return compare(self.result(tenant, groups, base_id), self.result(tenant, groups, new_id))

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        """Block until a background run has finished (tests, shutdown)."""
        with self._lock:
            future = self._futures.get(run_id)
        if future is not None:
            future.result(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _visible(run_groups: list[str] | None, caller: tuple[str, ...] | None) -> bool:
    """Whether a caller with these groups (None = unrestricted) may read a run made with `run_groups`."""
    if caller is None:
        return True
    return run_groups is not None and set(run_groups) <= set(caller)


__all__ = ["JUDGES", "EvalService"]
