"""Chunk templates and their registry. A plain dict: name → factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.errors import InvalidInputError
from ingest.templates.base import ChunkDraft, ChunkTemplate
from ingest.templates.general import GeneralTemplate

TEMPLATES: dict[str, Callable[..., ChunkTemplate]] = {
    "general": GeneralTemplate,
}


def get_template(name: str, **params: Any) -> ChunkTemplate:
    """Build a template by name; an unknown name is an input error listing the valid ones."""
    factory = TEMPLATES.get(name)
    if factory is None:
        raise InvalidInputError(
            f"unknown template {name!r}; valid templates: {', '.join(sorted(TEMPLATES))}", "template"
        )
    return factory(**params)


__all__ = ["TEMPLATES", "ChunkDraft", "ChunkTemplate", "GeneralTemplate", "get_template"]
