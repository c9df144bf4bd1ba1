"""Tests of app/llm (chat models), the LLM generator and the LLM judge; shared fakes and the shared tiny model."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from app.core.domain import Chunk, ScoredChunk
from app.core.grounding import ChatMessage, Passage


def passage(n: int, text: str) -> Passage:
    c = Chunk(f"c{n}", f"d{n}", "t", "c", f"doc{n}.txt", text, 0, 0, len(text), "h", "v")
    return Passage(n, ScoredChunk(c, 1.0 / n, dense_score=0.8, rank=n))


class ScriptedModel:
    """A fake `LanguageModel`: replies are queued with `enqueue()` (an exception is raised instead of returned);
    streams split each reply into `chunk`-character deltas. Records every call."""

    name = "scripted"

    def __init__(self, *replies: str | Exception, chunk: int = 3) -> None:
        self.replies: list[str | Exception] = list(replies)
        self.chunk = chunk
        self.calls: list[dict[str, Any]] = []
        self.closed_streams = 0

    def enqueue(self, *replies: str | Exception) -> None:
        self.replies.extend(replies)

    def warm_up(self) -> None:
        pass

    def chat(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        self.calls.append(
            {"messages": list(messages), "max_tokens": max_tokens, "temperature": temperature, "schema": json_schema}
        )
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def stream_chat(
        self, messages: Sequence[ChatMessage], max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str]:
        text = self.chat(messages, max_tokens, temperature)
        try:
            for i in range(0, len(text), self.chunk):
                yield text[i : i + self.chunk]
        finally:
            self.closed_streams += 1


@functools.cache
def smollm2() -> Any:
    """SmolLM2-135M-Instruct through llama.cpp, loaded once per test session (≈0.2 s; answers are poor).

    One thread: llama.cpp threads spin-wait on each other, and on a busy 2-core machine 2 threads decoded 16x slower
    than 1 (measured: 64 tokens in 35 s vs 2.2 s)."""
    from app.llm.llama_cpp import LlamaCppModel

    model = LlamaCppModel("smollm2-135m", n_ctx=2048, n_threads=1, timeout_s=60)
    model.warm_up()
    return model


def smollm2_path() -> str:
    from app.llm.model_files import smollm2_path as path

    return str(path())
