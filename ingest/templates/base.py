"""What every chunk template produces, and the sentence splitter they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.core.domain import ParsedDocument
from app.core.text import sentence_spans


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it has an id: an exact character span of the document text plus its location."""

    text: str
    start: int
    end: int
    page: int | None
    section_path: tuple[str, ...]


class ChunkTemplate(Protocol):
    name: str

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]: ...


__all__ = ["ChunkDraft", "ChunkTemplate", "sentence_spans"]
