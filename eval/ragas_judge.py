"""Ragas' LLM metrics on evaluated rows: faithfulness, answer relevancy, context precision and context recall.

The judge is our `LanguageModel` (the local Qwen through llama.cpp, or an OpenAI-compatible endpoint) wrapped by
`eval.ragas_llm.RagasLLM`; the metrics are Ragas 0.4.3's own (`ragas.metrics.collections`). A metric is scored only
where it applies, and a row where it could not be computed gets `Score(None, reason)` — never a zero:

* faithfulness, answer_relevancy: rows that were answered (not refused, a non-empty answer) from ≥ 1 context;
* context_precision, context_recall: rows with a reference answer and ≥ 1 context.

Usage::

    judge = build_judge("local", LlamaCppModel("qwen2.5-coder-1.5b"), MiniLMEmbedder(), "data/judge-cache.sqlite")
    judge.warm_up()
    judge.score(rows, [FAITHFULNESS, CONTEXT_RECALL])
    print(judge.stats)
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.answer.citations import strip_citations
from app.core.ports import Embedder, LanguageModel
from eval.results import ANSWER_RELEVANCY, CONTEXT_PRECISION, CONTEXT_RECALL, FAITHFULNESS, LLM_METRICS, CaseRow, Score

if TYPE_CHECKING:
    from eval.ragas_llm import JudgeCache, RagasLLM

JUDGE_KINDS = ("local", "openai", "none")


def _answered(row: CaseRow) -> bool:
    return not row.refused and bool(row.answer.strip()) and bool(row.contexts)


def _has_reference(row: CaseRow) -> bool:
    return bool(row.reference_answer and row.reference_answer.strip()) and bool(row.contexts)


APPLIES: dict[str, Callable[[CaseRow], bool]] = {
    FAITHFULNESS: _answered,
    ANSWER_RELEVANCY: _answered,
    CONTEXT_PRECISION: _has_reference,
    CONTEXT_RECALL: _has_reference,
}


class RagasJudge:
    """Scores rows with Ragas' LLM metrics through one judge model (see the module doc).

    All metric calls of one `score()` run in one event loop, one after another (Ragas' sync `score()` opens a loop
    per call, which breaks async clients; the local model serves one call at a time anyway). `answer_relevancy` asks
    for one generated question (`strictness=1`): at temperature 0 further questions would be identical copies.
    """

    def __init__(
        self,
        llm: LanguageModel,
        embedder: Embedder,
        cache: JudgeCache | None = None,
        timeout_s: float = 180.0,
        name: str = "local",
        max_tokens: int = 1024,
    ) -> None:
        """
        Args:
            llm: the judge's chat model.
            embedder: embeds questions for answer relevancy.
            cache: judge replies by content hash (None: in memory, for this judge only).
            timeout_s: limit of one judge call.
            name: what the judge is called in reports (local | openai).
            max_tokens: reply budget of one judge call.
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.llm = llm
        self.embedder = embedder
        self.name = name
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self._cache = cache
        self._ragas_llm: RagasLLM | None = None
        self._metrics: dict[str, Any] = {}
        self._samples = 0

    def warm_up(self) -> None:
        """Load the model and the embedder, import Ragas and build its metrics."""
        if self._ragas_llm is not None:
            return
        self.llm.warm_up()
        self.embedder.warm_up()
        from ragas.metrics.collections import AnswerRelevancy, ContextPrecision, ContextRecall, Faithfulness

        from eval.ragas_llm import RagasEmbedder, RagasLLM

        ragas_llm = RagasLLM(self.llm, self._cache, timeout_s=self.timeout_s, max_tokens=self.max_tokens)
        self._metrics = {
            FAITHFULNESS: Faithfulness(llm=ragas_llm),
            ANSWER_RELEVANCY: AnswerRelevancy(llm=ragas_llm, embeddings=RagasEmbedder(self.embedder), strictness=1),
            CONTEXT_PRECISION: ContextPrecision(llm=ragas_llm),
            CONTEXT_RECALL: ContextRecall(llm=ragas_llm),
        }
        self._ragas_llm = ragas_llm

    @property
    def stats(self) -> dict[str, Any]:
        """calls, cache_hits, retries, failures, timeouts, seconds (in the model) and samples (rows judged)."""
        base = dict(self._ragas_llm.stats) if self._ragas_llm is not None else {}
        out: dict[str, Any] = {k: base.get(k, 0) for k in ("calls", "cache_hits", "retries", "failures", "timeouts")}
        out["seconds"] = round(float(base.get("seconds", 0.0)), 3)
        out["samples"] = self._samples
        return out

    def score(
        self,
        rows: Sequence[CaseRow],
        metrics: Sequence[str],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Set `row.scores[metric]` for every applicable (row, metric); leave the others unset.

        Args:
            rows: answered rows (rows with `error` are skipped).
            metrics: any of `LLM_METRICS`.
            progress: called with (rows done, rows) after each row.

        Raises:
            ValueError: an unknown metric (the message lists the valid ones).
        """
        unknown = [m for m in metrics if m not in LLM_METRICS]
        if unknown:
            raise ValueError(f"unknown Ragas LLM metric(s) {unknown}; valid: {', '.join(LLM_METRICS)}")
        self.warm_up()
        asyncio.run(self._score_all(rows, list(dict.fromkeys(metrics)), progress))

    async def _score_all(
        self, rows: Sequence[CaseRow], metrics: list[str], progress: Callable[[int, int], None] | None
    ) -> None:
        for i, row in enumerate(rows):
            todo = [m for m in metrics if row.error is None and APPLIES[m](row)]
            for metric in todo:
                row.scores[metric] = await self._score_one(row, metric)
            self._samples += bool(todo)
            if progress is not None:
                progress(i + 1, len(rows))

    async def _score_one(self, row: CaseRow, metric: str) -> Score:
        from eval.ragas_llm import JudgeError

        kwargs: dict[str, Any] = {"user_input": row.question}
        if metric in (FAITHFULNESS, ANSWER_RELEVANCY):
            kwargs["response"] = strip_citations(row.answer)  # our [n] markers are not part of the claim
        else:
            kwargs["reference"] = row.reference_answer or ""
        if metric != ANSWER_RELEVANCY:
            kwargs["retrieved_contexts"] = list(row.contexts)
        try:
            result = await self._metrics[metric].ascore(**kwargs)
        except JudgeError as e:
            return Score(None, "timeout" if e.kind == "timeout" else f"judge_failed: {e}")
        except Exception as e:  # noqa: BLE001 - Ragas' own checks (an empty input, a bad verdict): counted, not fatal
            return Score(None, f"judge_failed: {type(e).__name__}: {e}"[:300])
        value = result.value
        if not isinstance(value, int | float) or math.isnan(value):
            return Score(None, "nan")
        return Score(float(value))


def build_judge(
    kind: str,
    llm: LanguageModel | None,
    embedder: Embedder,
    cache_path: str | Path | None,
    timeout_s: float = 180.0,
    max_tokens: int = 1024,
) -> RagasJudge | None:
    """The Ragas judge of `kind`, not warmed up; None for "none".

    Args:
        kind: local (the llama.cpp model) | openai (an OpenAI-compatible endpoint) | none.
        llm: the chat model of that kind (the composition root builds it from settings).
        embedder: for answer relevancy.
        cache_path: SQLite file of cached judge replies (None: in memory).
        timeout_s: limit of one judge call.
        max_tokens: reply budget of one judge call.

    Raises:
        ValueError: an unknown kind (the valid ones listed), or a kind that needs a chat model without one.
    """
    if kind not in JUDGE_KINDS:
        raise ValueError(f"unknown judge {kind!r}; valid: {', '.join(JUDGE_KINDS)}")
    if kind == "none":
        return None
    if llm is None:
        backend = "llama-cpp" if kind == "local" else "openai"
        raise ValueError(
            f"judge {kind!r} needs a chat model: configure GROUNDED_MODELS__LLM={backend} (or use judge 'none')"
        )
    from eval.ragas_llm import JudgeCache

    return RagasJudge(
        llm, embedder, cache=JudgeCache(cache_path), timeout_s=timeout_s, name=kind, max_tokens=max_tokens
    )
