"""Chunk templates and their registry. A plain dict: name → factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.domain import ParsedDocument
from app.core.errors import InvalidInputError
from ingest.templates.auto import AutoTemplate
from ingest.templates.base import ChunkDraft, ChunkTemplate
from ingest.templates.email import EmailTemplate
from ingest.templates.general import GeneralTemplate
from ingest.templates.laws import LawsTemplate
from ingest.templates.manual import ManualTemplate
from ingest.templates.paper import PaperTemplate
from ingest.templates.qa import QATemplate
from ingest.templates.slides import SlidesTemplate
from ingest.templates.table import TableTemplate

TEMPLATES: dict[str, Callable[..., ChunkTemplate]] = {
    "general": GeneralTemplate,
    "manual": ManualTemplate,
    "book": ManualTemplate,
    "laws": LawsTemplate,
    "qa": QATemplate,
    "table": TableTemplate,
    "paper": PaperTemplate,
    "slides": SlidesTemplate,
    "email": EmailTemplate,
    "auto": AutoTemplate,
}


def choose_template(doc: ParsedDocument) -> tuple[str, str]:
    """`auto`: the template for this document and the reason, from its file type and structure."""
    from ingest.templates.auto import choose

    return choose(doc)


def get_template(name: str, **params: Any) -> ChunkTemplate:
    """Build a template by name; an unknown name is an input error listing the valid ones."""
    factory = TEMPLATES.get(name)
    if factory is None:
        raise InvalidInputError(
            f"unknown template {name!r}; valid templates: {', '.join(sorted(TEMPLATES))}", "template"
        )
    return factory(**params)


__all__ = [
    "TEMPLATES",
    "AutoTemplate",
    "ChunkDraft",
    "ChunkTemplate",
    "EmailTemplate",
    "GeneralTemplate",
    "LawsTemplate",
    "ManualTemplate",
    "PaperTemplate",
    "QATemplate",
    "SlidesTemplate",
    "TableTemplate",
    "choose_template",
    "get_template",
]
