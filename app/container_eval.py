"""Composition of evaluation: the judge factory, the EvalService and live scoring, from Settings.

Kept beside container.py (the composition root) so that file stays about the query and ingest paths. Judges are
built on first use and kept: loading the local GGUF takes seconds, and its cache file is shared by every run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import InvalidInputError
from app.core.ports import Embedder, LanguageModel, Verifier
from app.core.settings import Settings
from eval.live import InProcessScheduler, LiveSampler, LiveScorer, RowScorer, fast_faithfulness
from eval.results import FAITHFULNESS, CaseRow
from eval.runner import Answerer, Judge
from eval.service import JUDGES, EvalService
from eval.store import SqlEvalStore

log = logging.getLogger(__name__)
LIVE_JUDGES = ("fast", "local", "openai")


def judge_model(settings: Settings, kind: str) -> LanguageModel:
    """The chat model behind a judge: the local GGUF (`eval.judge_model`) or the OpenAI-compatible endpoint."""
    from app.answer.factory import build_language_model

    e = settings.eval
    if kind == "local":
        models = settings.models.model_copy(
            update={
                "llm": "llama-cpp",
                "llm_model": e.judge_model,
                "llm_threads": e.judge_threads,
                "llm_timeout_s": e.judge_timeout_s,
                "llm_prompt_cache_mb": e.judge_prompt_cache_mb,
            }
        )
        return build_language_model(settings.model_copy(update={"models": models}), "llama-cpp")
    if kind == "openai":
        return build_language_model(settings, "openai")
    raise InvalidInputError(f"unknown judge {kind!r}; valid: {', '.join(JUDGES)}", "judge")


def judge_factory(settings: Settings, embedder: Embedder) -> Callable[[str], Judge | None]:
    """judge kind → a warmed-up RagasJudge, built once per kind."""
    from eval.ragas_judge import build_judge

    built: dict[str, Judge | None] = {}
    lock = threading.Lock()
    cache_path = settings.data_dir / "judge-cache.sqlite" if settings.eval.judge_cache else None

    def get(kind: str) -> Judge | None:
        with lock:
            if kind not in built:
                llm = judge_model(settings, kind) if kind != "none" else None
                judge = build_judge(kind, llm, embedder, cache_path, timeout_s=settings.eval.judge_timeout_s)
                if judge is not None:
                    judge.warm_up()
                built[kind] = judge
            return built[kind]

    return get


@dataclass
class LiveScoring:
    """The live-scoring parts of one process: the sampler (request side) and the scorer (+ its scheduler)."""

    sampler: LiveSampler
    scorer: LiveScorer
    scheduler: InProcessScheduler | None

    def start(self) -> None:
        self.sampler.start()
        if self.scheduler is not None:
            self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self.sampler.stop()


def live_row_scorer(settings: Settings, verifier: Verifier | None, judges: Callable[[str], Judge | None]) -> RowScorer:
    kind = settings.eval.live_judge
    if kind not in LIVE_JUDGES:
        raise InvalidInputError(f"unknown eval.live_judge {kind!r}; valid: {', '.join(LIVE_JUDGES)}", "eval.live_judge")
    if kind == "fast":
        if verifier is None:
            from app.verify.fast import FastVerifier

            verifier = FastVerifier()
        v = verifier

        def verify(question: str, pairs: list[tuple[str, str]]) -> list[bool]:
            return [s.supported for s in v.support(question, pairs)]

        return fast_faithfulness(verify)

    def ragas(rows: Sequence[CaseRow]) -> None:
        judge = judges(kind)
        assert judge is not None
        judge.score(rows, [FAITHFULNESS], None)

    return ragas


def build_eval(
    settings: Settings,
    metadata: Any,
    kb: Answerer,
    embedder: Embedder,
    verifier: Verifier | None,
    collection_exists: Callable[[str, str], Any],
) -> tuple[EvalService, LiveScoring]:
    from app.adapters.webhook import post_json

    e = settings.eval
    store = SqlEvalStore(metadata)
    judges = judge_factory(settings, embedder)
    service = EvalService(store, kb, verifier, judges, e.judge, e.max_suite_rows, collection_exists)
    scorer = LiveScorer(
        store,
        live_row_scorer(settings, verifier, judges),
        e.live_judge,
        window=e.live_window,
        min_samples=e.live_min_samples,
        threshold=e.live_threshold,
        webhook_url=e.alert_webhook_url,
        notify=post_json,
        batch=e.live_batch,
    )
    # The scaled profile scores on Celery beat (eval/tasks.py); the embedded one in a thread of this process.
    in_process = e.live_share > 0 and not settings.broker_url
    scheduler = InProcessScheduler(scorer.tick, e.live_interval_s) if in_process else None
    return service, LiveScoring(LiveSampler(store, e.live_share), scorer, scheduler)
