"""Our `LanguageModel` and `Embedder` ports as the judge and embeddings of Ragas' metric collections.

Ragas 0.4.3's `ragas.metrics.collections` metrics take an `InstructorBaseRagasLLM`: `agenerate(prompt, response_model)`
returns an instance of a pydantic model. `RagasLLM` answers that with one `LanguageModel.chat` call whose output is
constrained to the model's JSON schema (a llama.cpp grammar, or an endpoint's structured-output mode), validates it,
and caches the validated reply by content hash in a `JudgeCache`, so a re-run of an unchanged evaluation costs no model
call. Small local judges fail in known ways; each is turned into a `JudgeError` that the caller counts:

* output that does not validate (cut off at `max_tokens`, a wrong field) is retried once, with the validation error
  and twice the token budget, then fails with kind `invalid_output`;
* a call that runs past `timeout_s` fails with kind `timeout` (no retry: it would take as long again);
* any other fault of the model call is retried once, then fails with kind `model_error`.

Importing this module sets Ragas' environment first (`ragas_environment()`: no telemetry, tiktoken encodings from the
installed llama-index-core instead of a download), then imports Ragas (~9 s): import it lazily.

Usage::

    llm = RagasLLM(LlamaCppModel("qwen2.5-coder-1.5b"), JudgeCache("judge-cache.sqlite"), timeout_s=180)
    metric = Faithfulness(llm=llm)
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar


def ragas_environment() -> None:
    """Make Ragas work offline: telemetry off, and tiktoken's encodings read from llama-index-core's packaged copy
    (`TIKTOKEN_CACHE_DIR`, only when unset). Must run before Ragas is imported (it reads both at import time)."""
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        spec = importlib.util.find_spec("llama_index.core")
        if spec is not None and spec.origin:
            folder = Path(spec.origin).parent / "_static" / "tiktoken_cache"
            if folder.is_dir():
                os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)


ragas_environment()

from pydantic import BaseModel, ValidationError  # noqa: E402
from ragas.embeddings.base import BaseRagasEmbedding  # noqa: E402
from ragas.llms.base import InstructorBaseRagasLLM  # noqa: E402

from app.core.grounding import ChatMessage  # noqa: E402
from app.core.ports import Embedder, LanguageModel  # noqa: E402
from app.llm import ModelTimeoutError, PromptTooLongError  # noqa: E402

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
JUDGE_ERROR_KINDS = ("timeout", "invalid_output", "model_error", "prompt_too_long")


class JudgeError(Exception):
    """A judge call that gave no usable answer. `kind` is one of `JUDGE_ERROR_KINDS`; `detail` says what happened."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def cache_key(model: str, schema: dict[str, Any], messages: Sequence[ChatMessage], temperature: float) -> str:
    """sha256 over everything that decides a judge's reply: model name, output schema, messages, temperature."""
    payload = json.dumps(
        {
            "model": model,
            "schema": schema,
            "messages": [[m.role, m.content] for m in messages],
            "temperature": temperature,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class JudgeCache:
    """Validated judge replies by `cache_key`: a small SQLite file, or an in-memory dict when `path` is None.

    Thread-safe (one lock; the connection is shared across threads). Only replies that validated are stored, so a
    failure is retried on the next run.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._memory: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS judge_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()

    def get(self, key: str) -> str | None:
        with self._lock:
            if self._db is None:
                return self._memory.get(key)
            row = self._db.execute("SELECT value FROM judge_cache WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self._lock:
            if self._db is None:
                self._memory[key] = value
                return
            self._db.execute("INSERT OR REPLACE INTO judge_cache (key, value) VALUES (?, ?)", (key, value))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            if self._db is None:
                return len(self._memory)
            return int(self._db.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
                self.path = None  # later use falls back to memory rather than failing


class RagasLLM(InstructorBaseRagasLLM):
    """A `LanguageModel` as Ragas' structured-output LLM (see the module doc for the failure handling).

    One lock lets a single call reach the model at a time (llama.cpp serves one call; an endpoint is spared bursts).
    `stats` counts model `calls` (retries included), `cache_hits`, `retries`, `failures` (of which `timeouts`) and
    the `seconds` spent in the model.
    """

    def __init__(
        self,
        llm: LanguageModel,
        cache: JudgeCache | None = None,
        timeout_s: float = 180.0,
        max_tokens: int = 1024,
        temperature: float = 0.0,
    ) -> None:
        """
        Args:
            llm: the chat model that judges.
            cache: where validated replies are kept (None: a fresh in-memory cache).
            timeout_s: limit of one async call (`agenerate`), waiting for the model included.
            max_tokens: reply budget of the first try (the retry gets twice as much).
            temperature: sampling temperature (0: greedy, what makes the cache meaningful).
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if max_tokens < 16:
            raise ValueError("max_tokens must be >= 16")
        self.llm = llm
        self.cache = cache if cache is not None else JudgeCache(None)
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._model_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragas-judge")
        self._stats_lock = threading.Lock()
        self.stats: dict[str, float] = {
            "calls": 0,
            "cache_hits": 0,
            "retries": 0,
            "failures": 0,
            "timeouts": 0,
            "seconds": 0.0,
        }

    def _count(self, key: str, amount: float = 1) -> None:
        with self._stats_lock:
            self.stats[key] += amount

    def generate(self, prompt: str, response_model: type[T]) -> T:
        """The model's answer to `prompt` as a `response_model` (no time limit beyond the model's own).

        Raises:
            JudgeError: invalid output after the retry, or a model fault.
        """
        try:
            return self._generate(prompt, response_model)
        except JudgeError:
            self._count("failures")
            raise

    async def agenerate(self, prompt: str, response_model: type[T]) -> T:
        """`generate` in the judge's one worker thread, limited to `timeout_s`. A timed-out call cannot be interrupted:
        it finishes in the background (and still fills the cache) while the next call waits for it, within its own
        limit. The worker is the judge's own, so the event loop of `asyncio.run` does not wait for it at its end.

        Raises:
            JudgeError: kind `timeout`, or as `generate`.
        """
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, self._generate, prompt, response_model)
        try:
            return await asyncio.wait_for(call, self.timeout_s)
        except TimeoutError as e:
            self._count("failures")
            self._count("timeouts")
            raise JudgeError("timeout", f"no answer within {self.timeout_s:g} s") from e
        except JudgeError as e:
            self._count("failures")
            if e.kind == "timeout":
                self._count("timeouts")
            raise

    def _generate(self, prompt: str, response_model: type[T]) -> T:
        schema = response_model.model_json_schema()
        messages = [ChatMessage("user", prompt)]
        key = cache_key(self.llm.name, schema, messages, self.temperature)
        cached = self.cache.get(key)
        if cached is not None:
            try:
                result = response_model.model_validate_json(cached)
                self._count("cache_hits")
                return result
            except ValidationError:  # written for another version of the response model: ask again
                pass
        problem = ""
        for attempt in range(2):
            if attempt:
                self._count("retries")
                note = f"Your previous reply was rejected ({problem}). Reply with one complete JSON object only."
                messages_now = [*messages, ChatMessage("user", note)] if problem.startswith("invalid") else messages
            else:
                messages_now = messages
            try:
                raw = self._chat(messages_now, schema, self.max_tokens * (attempt + 1))
            except (ModelTimeoutError, PromptTooLongError) as e:
                raise JudgeError("timeout" if isinstance(e, ModelTimeoutError) else "prompt_too_long", str(e)) from e
            except Exception as e:  # noqa: BLE001 - ModelError, or a client error an adapter did not wrap
                problem = f"model error: {type(e).__name__}: {e}"
                log.warning("judge call failed", extra={"model": self.llm.name, "attempt": attempt, "error": str(e)})
                continue
            try:
                result = response_model.model_validate_json(raw)
            except ValidationError as e:
                errors = e.errors()
                where = f"{errors[0]['msg']} at {errors[0]['loc']}" if errors else str(e)
                problem = f"invalid JSON for {response_model.__name__}: {where}"
                log.warning("judge output invalid", extra={"model": self.llm.name, "attempt": attempt, "raw": raw[:99]})
                continue
            self.cache.put(key, raw)
            return result
        kind = "invalid_output" if problem.startswith("invalid") else "model_error"
        raise JudgeError(kind, f"{problem} (after 1 retry)")

    def _chat(self, messages: Sequence[ChatMessage], schema: dict[str, Any], max_tokens: int) -> str:
        with self._model_lock:
            started = time.perf_counter()
            self._count("calls")
            try:
                return self.llm.chat(messages, max_tokens=max_tokens, temperature=self.temperature, json_schema=schema)
            finally:
                self._count("seconds", time.perf_counter() - started)


class RagasEmbedder(BaseRagasEmbedding):
    """Our `Embedder` port as Ragas' modern embeddings (what `AnswerRelevancy` needs). `embed_batch` does the work;
    the async methods run it in a worker thread."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__(cache=None)
        self.embedder = embedder

    def embed_text(self, text: str, **kwargs: Any) -> list[float]:
        return self.embedder.embed_batch([text])[0]

    async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
        return await asyncio.to_thread(self.embed_text, text)

    def embed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return self.embedder.embed_batch(list(texts))

    async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_texts, list(texts))
