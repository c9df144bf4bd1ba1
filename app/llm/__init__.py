"""Chat models behind the `LanguageModel` port: a local GGUF through llama.cpp, or an OpenAI-compatible endpoint.

`app.llm.factory.build_language_model(settings)` is the one place that picks a backend. The backends import their
third-party client lazily (in `warm_up()` / first use), so importing this package costs nothing.

The package's errors live here (no submodule is imported, so `from app.llm import ...` stays cheap).
"""

from __future__ import annotations

from app.core.errors import ModelError


class ModelNotInstalledError(ModelError):
    """A model file or runtime is not installed; `target` is the make target that installs it."""

    def __init__(self, model: str, target: str, detail: str = "") -> None:
        msg = f"{model} is not installed: run `make {target}`"
        super().__init__(f"{msg} ({detail})" if detail else msg)
        self.model = model
        self.target = target


class ModelTimeoutError(ModelError):
    """One model call ran past its limit (generation was stopped, or the endpoint did not answer in time)."""

    def __init__(self, model: str, timeout_s: float, detail: str = "") -> None:
        msg = f"{model}: call exceeded {timeout_s:g} s"
        super().__init__(f"{msg} ({detail})" if detail else msg)
        self.model = model
        self.timeout_s = timeout_s


class PromptTooLongError(ModelError):
    """The prompt does not fit the model's context window; send fewer or shorter passages."""

    def __init__(self, model: str, prompt_tokens: int | None, context: int) -> None:
        got = f"{prompt_tokens} tokens" if prompt_tokens is not None else "the prompt"
        super().__init__(f"{model}: {got} do not fit the context window of {context} tokens")
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.context = context


__all__ = ["ModelNotInstalledError", "ModelTimeoutError", "PromptTooLongError"]
