"""Builds the configured chat model from settings (the composition root calls this; nothing else reads settings)."""

from __future__ import annotations

from app.core.ports import LanguageModel
from app.core.settings import Settings

LLM_BACKENDS = ("none", "llama-cpp", "openai")


def build_language_model(settings: Settings) -> LanguageModel | None:
    """The chat model of `settings.models.llm`, not loaded yet (call `warm_up()`), or None for `none`.

    Raises:
        ValueError: an unknown backend or model name (the message lists the valid values).
    """
    m = settings.models
    if m.llm == "none":
        return None
    if m.llm == "llama-cpp":
        from app.llm.llama_cpp import LlamaCppModel

        return LlamaCppModel(
            m.llm_model,
            cache_dir=m.model_cache_dir or settings.data_dir / "models",
            n_ctx=m.llm_context,
            n_threads=m.llm_threads,
            timeout_s=m.llm_timeout_s,
            prompt_cache_mb=m.llm_prompt_cache_mb,
        )
    if m.llm == "openai":
        from app.llm.openai_compat import OpenAICompatModel

        return OpenAICompatModel(
            m.openai_base_url,
            model=m.openai_model,
            api_key=m.openai_api_key.get_secret_value() if m.openai_api_key else None,
            timeout_s=m.llm_timeout_s,
            max_retries=m.openai_max_retries,
        )
    raise ValueError(f"unknown models.llm {m.llm!r}; valid: {', '.join(LLM_BACKENDS)}")
