"""A local GGUF chat model through llama-cpp-python (`make install-llm-min`; Qwen needs `make install-llm`)."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from app.core.errors import ModelError
from app.core.grounding import ChatMessage
from app.llm import ModelNotInstalledError, ModelTimeoutError, PromptTooLongError
from app.llm.model_files import KNOWN_MODELS, QWEN, is_model_path, model_label, resolve_model_path

log = logging.getLogger(__name__)

_TOO_LONG = re.compile(r"Requested tokens \((\d+)\) exceed context window")


class LlamaCppModel:
    """A chat model running in-process on llama.cpp. Implements the `LanguageModel` port.

    The model loads in `warm_up()` (or on first use). llama.cpp is not thread-safe, so one lock serialises calls:
    a call that waits for the lock longer than `timeout_s` fails with `ModelTimeoutError`. Generation is streamed
    internally and stopped once `timeout_s` has passed since the call got the model; the prompt evaluation itself
    cannot be interrupted (≈60 prompt tokens/s for Qwen2.5-1.5B on 2 cores). `json_schema` turns into a grammar,
    so even a 135M model returns valid JSON of that schema.

    Usage::

        llm = LlamaCppModel("qwen2.5-coder-1.5b", cache_dir=Path("data/models"), n_ctx=4096)
        llm.warm_up()
        text = llm.chat([ChatMessage("user", "Say hi")], max_tokens=16)
    """

    def __init__(
        self,
        model: str = QWEN,
        cache_dir: Path | str | None = None,
        n_ctx: int = 4096,
        n_threads: int = 0,
        timeout_s: float = 120.0,
        seed: int = 0,
        n_batch: int = 512,
        prompt_cache_mb: int = 0,
    ) -> None:
        """
        Args:
            model: `qwen2.5-coder-1.5b`, `smollm2-135m`, or a path to a `.gguf` file.
            cache_dir: where the Qwen parts are assembled (default `data/models`).
            n_ctx: context window in tokens (prompt + answer).
            n_threads: CPU threads (0 = number of cores).
            timeout_s: limit of one call, waiting for the model included.
            seed: sampling seed (temperature 0 is greedy and needs none).
            n_batch: prompt tokens evaluated per batch.
            prompt_cache_mb: keep model states of earlier prompts in RAM (llama.cpp's LlamaRAMCache) and resume from
                the longest matching prefix. Helps when calls alternate between a few long prompt templates (a Ragas
                judge: statement extraction, then verdicts); 0 = only the last prompt's prefix is reused.
        """
        if model not in KNOWN_MODELS and not is_model_path(model):
            raise ValueError(f"unknown model {model!r}; valid: {', '.join(KNOWN_MODELS)} or a path to a .gguf file")
        if n_ctx < 512:
            raise ValueError("n_ctx must be >= 512")
        if n_threads < 0:
            raise ValueError("n_threads must be >= 0 (0 = number of cores)")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if n_batch < 1:
            raise ValueError("n_batch must be >= 1")
        if prompt_cache_mb < 0:
            raise ValueError("prompt_cache_mb must be >= 0")
        self.prompt_cache_mb = prompt_cache_mb
        self.model = model
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path("data") / "models"
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.timeout_s = timeout_s
        self.seed = seed
        self.n_batch = n_batch
        self.name = f"llama-cpp:{model_label(model)}"
        self.model_path: Path | None = None
        self._llm: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Locate (or assemble) the GGUF file and load it.

        Raises:
            ModelNotInstalledError: llama-cpp-python or the model wheels are missing.
            ModelError: the file cannot be loaded.
        """
        if self._llm is not None:
            return
        with self._lock:
            if self._llm is not None:
                return
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise ModelNotInstalledError("llama-cpp-python", "install-llm-min", str(e)) from e
            path = resolve_model_path(self.model, self.cache_dir)
            start = time.perf_counter()
            try:
                llm = Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_batch=min(self.n_batch, self.n_ctx),
                    seed=self.seed,
                    verbose=False,
                )
            except Exception as e:
                raise ModelError(f"cannot load {path}: {e}") from e
            if self.prompt_cache_mb:
                llm.set_cache(slim_ram_cache(self.prompt_cache_mb << 20))
            self._llm = llm
            self.model_path = path
            log.info(
                "llm loaded",
                extra={"model": self.name, "path": str(path), "seconds": round(time.perf_counter() - start, 2)},
            )

    def chat(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        """The assistant's reply to `messages`; with `json_schema`, valid JSON of that schema.

        Raises:
            ModelTimeoutError: the call ran past `timeout_s`.
            PromptTooLongError: the prompt does not fit `n_ctx`.
            ModelError: llama.cpp failed.
        """
        fmt = {"type": "json_object", "schema": json_schema} if json_schema is not None else None
        return "".join(self._generate(messages, max_tokens, temperature, fmt))

    def stream_chat(
        self, messages: Sequence[ChatMessage], max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str]:
        """The reply as text deltas. Holds the model until the iterator is exhausted or closed."""
        return self._generate(messages, max_tokens, temperature, None)

    def close(self) -> None:
        """Free the model (a later call loads it again)."""
        with self._lock:
            llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    def _generate(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        temperature: float,
        response_format: dict[str, Any] | None,
    ) -> Iterator[str]:
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        self.warm_up()
        if not self._lock.acquire(timeout=self.timeout_s):
            raise ModelTimeoutError(self.name, self.timeout_s, "waiting for the model, which serves one call at a time")
        chunks: Any = None
        try:
            deadline = time.monotonic() + self.timeout_s
            try:
                chunks = self._llm.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=self.seed,
                    response_format=response_format,
                    stream=True,
                )
                for chunk in chunks:
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
                    if time.monotonic() > deadline:
                        raise ModelTimeoutError(self.name, self.timeout_s, "generation stopped")
            except ModelError:
                raise
            except ValueError as e:
                m = _TOO_LONG.search(str(e))
                if m or "context window" in str(e):
                    raise PromptTooLongError(self.name, int(m.group(1)) if m else None, self.n_ctx) from e
                raise ModelError(f"{self.name}: {e}") from e
            except Exception as e:
                raise ModelError(f"{self.name}: generation failed: {e}") from e
        finally:
            if chunks is not None and hasattr(chunks, "close"):
                chunks.close()
            self._lock.release()


def slim_ram_cache(capacity_bytes: int) -> Any:
    """llama.cpp's RAM cache of prompt states, made safe to bound.

    llama-cpp-python's `LlamaRAMCache` counts only the KV state against its capacity, but each saved state also
    holds a copy of the logits buffer (up to n_batch × vocabulary floats: 311 MB for Qwen2.5) — measured here, a
    3,000 MB cache grew past 24 GB and the process was OOM-killed. Without `logits_all` that buffer is not even used
    (sampling happens inside llama.cpp; it only serves logprobs), so this one keeps a single row, which `load_state`
    broadcasts back, and counts every byte it keeps: `capacity_bytes` is the real bound.
    """
    from llama_cpp import LlamaRAMCache
    from llama_cpp.llama import LlamaState

    class SlimRAMCache(LlamaRAMCache):  # type: ignore[misc]
        @property
        def cache_size(self) -> int:
            return sum(
                int(st.llama_state_size) + int(st.scores.nbytes) + int(st.input_ids.nbytes)
                for st in self.cache_state.values()
            )

        def __setitem__(self, key: Sequence[int], value: Any) -> None:
            n = int(value.n_tokens)
            slim = LlamaState(
                input_ids=value.input_ids,  # the whole context array (16 KB): llama.cpp writes into it in place
                scores=value.scores[-1:].copy(),  # one row (or none); `load_state` broadcasts it
                n_tokens=n,
                llama_state=value.llama_state,
                llama_state_size=value.llama_state_size,
                seed=value.seed,
            )
            super().__setitem__(key, slim)

    return SlimRAMCache(capacity_bytes=capacity_bytes)
