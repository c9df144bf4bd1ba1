"""A chat model behind an OpenAI-compatible HTTP endpoint (OpenAI, vLLM, Ollama, llama.cpp's server, ...)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from app.core.errors import ModelError
from app.core.grounding import ChatMessage
from app.llm import ModelNotInstalledError, ModelTimeoutError

log = logging.getLogger(__name__)

# How a JSON schema is asked for, best first. Servers differ: OpenAI and vLLM take `json_schema`; llama.cpp's Python
# server takes only `json_object` but honours a `schema` key in it; some take a bare `json_object` (the schema is
# then only in the prompt). The first mode a server accepts is remembered.
JSON_MODES = ("json_schema", "json_object_schema", "json_object")


def _response_format(mode: str, schema: dict[str, Any]) -> dict[str, Any]:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_object"}


def _with_schema_instruction(messages: list[dict[str, str]], schema: dict[str, Any]) -> list[dict[str, str]]:
    """Spell the schema out in the system turn, for modes where the server does not enforce it."""
    note = "Reply with one JSON object, nothing else, matching this JSON schema:\n" + json.dumps(schema)
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + note}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


class OpenAICompatModel:
    """A chat model reached through the official `openai` client. Implements the `LanguageModel` port.

    `model` may be empty: `warm_up()` then asks the endpoint for its models and uses the first (what a local
    llama.cpp / Ollama server with one model wants). Each request is limited to `timeout_s` and retried up to
    `max_retries` times on connection errors, 408/409/429 and 5xx (the client's own policy).

    Usage::

        llm = OpenAICompatModel("http://127.0.0.1:8080/v1", model="qwen2.5", api_key="")
        text = llm.chat([ChatMessage("user", "Say hi")], max_tokens=16)
    """

    def __init__(
        self,
        base_url: str,
        model: str = "",
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 2,
    ) -> None:
        """
        Args:
            base_url: the endpoint, e.g. `http://127.0.0.1:8080/v1` or `https://api.openai.com/v1`.
            model: model name sent with each request ("" = the endpoint's first model).
            api_key: bearer key; empty or None sends "none" (local servers ignore it).
            timeout_s: limit of one request (a stream: of the whole reply).
            max_retries: retries of a failed request.
        """
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._api_key = api_key or "none"
        self._client: Any = None
        self._json_mode = 0  # index into JSON_MODES: the best mode not yet refused by this endpoint
        self._lock = threading.Lock()
        self.name = f"openai:{model or 'default'}"  # the real name once warm_up() has asked the endpoint

    def warm_up(self) -> None:
        """Create the client; with no model name, ask the endpoint for one.

        Raises:
            ModelNotInstalledError: the `openai` package is missing.
            ModelError: the endpoint lists no model (or cannot be reached to list them).
        """
        if self._client is not None and self.model:
            return
        with self._lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as e:
                    raise ModelNotInstalledError("openai", "install", str(e)) from e
                self._client = openai.OpenAI(
                    base_url=self.base_url, api_key=self._api_key, timeout=self.timeout_s, max_retries=self.max_retries
                )
            if not self.model:
                try:
                    ids = [m.id for m in self._client.models.list()]
                except Exception as e:
                    raise _wrap(e, self.name, self.timeout_s) from e
                if not ids:
                    raise ModelError(f"{self.base_url} lists no model; set the model name")
                self.model = ids[0]
                self.name = f"openai:{self.model}"
                log.info("llm endpoint model", extra={"model": self.model, "base_url": self.base_url})

    def chat(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        """The assistant's reply; with `json_schema`, JSON asked for in the best way the endpoint accepts.

        Raises:
            ModelTimeoutError: the endpoint did not answer within `timeout_s` (after retries).
            ModelError: the endpoint failed or refused the request.
        """
        self.warm_up()
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        if json_schema is None:
            return self._complete(msgs, max_tokens, temperature, None)
        first_error: Exception | None = None
        for mode_index in range(self._json_mode, len(JSON_MODES)):
            mode = JSON_MODES[mode_index]
            asked = msgs if mode == "json_schema" else _with_schema_instruction(msgs, json_schema)
            try:
                text = self._complete(asked, max_tokens, temperature, _response_format(mode, json_schema))
            except _FormatRefused as e:
                # A prompt that is too long is a 400 as well, but it fails in every mode: the mode is remembered
                # only once a request in it succeeds.
                log.info("json mode refused", extra={"model": self.name, "mode": mode, "error": str(e.error)[:200]})
                first_error = first_error or e.error
                continue
            if mode_index != self._json_mode:
                log.warning("endpoint json mode", extra={"model": self.name, "mode": mode, "base_url": self.base_url})
                self._json_mode = mode_index
            return text
        assert first_error is not None
        raise _wrap(first_error, self.name, self.timeout_s) from first_error

    @property
    def json_mode(self) -> str:
        """How this endpoint is asked for JSON (the first of `JSON_MODES` it has not refused)."""
        return JSON_MODES[self._json_mode]

    def stream_chat(
        self, messages: Sequence[ChatMessage], max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str]:
        """The reply as text deltas; stopped with `ModelTimeoutError` once `timeout_s` has passed."""
        self.warm_up()
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        deadline = time.monotonic() + self.timeout_s
        try:
            stream = self._client.chat.completions.create(
                model=self.model, messages=msgs, max_tokens=max_tokens, temperature=temperature, stream=True
            )
        except Exception as e:
            raise _wrap(e, self.name, self.timeout_s) from e
        with stream:
            try:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
                    if time.monotonic() > deadline:
                        raise ModelTimeoutError(self.name, self.timeout_s, "stream stopped")
            except ModelError:
                raise
            except Exception as e:
                raise _wrap(e, self.name, self.timeout_s) from e

    def _complete(
        self,
        msgs: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        response_format: dict[str, Any] | None,
    ) -> str:
        kwargs: dict[str, Any] = {}
        if response_format is not None:
            kwargs["response_format"] = response_format
        try:
            out = self._client.chat.completions.create(
                model=self.model, messages=msgs, max_tokens=max_tokens, temperature=temperature, **kwargs
            )
        except Exception as e:
            if response_format is not None and _refuses_format(e):
                raise _FormatRefused(e) from e
            raise _wrap(e, self.name, self.timeout_s) from e
        if not out.choices:
            raise ModelError(f"{self.name}: the endpoint returned no choice")
        return out.choices[0].message.content or ""


class _FormatRefused(Exception):
    """The endpoint refused the request, maybe for its `response_format` (the caller tries the next mode)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _refuses_format(e: Exception) -> bool:
    """True for an error that a different `response_format` may avoid: a 400/422, or a 5xx that names the field
    (llama.cpp's Python server answers an unknown `type` with a 500 carrying the validation error)."""
    import openai

    if isinstance(e, openai.BadRequestError | openai.UnprocessableEntityError):
        return True
    return isinstance(e, openai.APIStatusError) and e.status_code >= 500 and "response_format" in str(e)


def _wrap(e: Exception, name: str, timeout_s: float) -> ModelError:
    """The project's error for an `openai` client error."""
    import openai

    if isinstance(e, ModelError):
        return e
    if isinstance(e, openai.APITimeoutError):
        return ModelTimeoutError(name, timeout_s, "no answer from the endpoint")
    if isinstance(e, openai.APIConnectionError):
        return ModelError(f"{name}: cannot reach the endpoint: {e}")
    if isinstance(e, openai.APIStatusError):
        return ModelError(f"{name}: the endpoint answered {e.status_code}: {e.message}")
    return ModelError(f"{name}: {e}")
