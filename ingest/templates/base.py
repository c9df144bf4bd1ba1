"""What every chunk template produces, and the helpers they share: size checks, line spans, table cells, and
general packing of a part of a document."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from app.core.domain import Element, ParsedDocument
from app.core.text import sentence_spans


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it has an id: an exact character span of the document text plus its location.

    `index_text` replaces what is embedded and BM25-indexed (default: the chunk's title + text), e.g. a manual's
    section path prefixed, or a Q&A pair's question alone. `fields` are template facts stored with the chunk
    (payload key ``fields``), e.g. ``{"article": "第十二条"}`` or ``{"variant": "question"}``; a draft with a
    ``variant`` is a second index entry for the same text and gets its own id.
    """

    text: str
    start: int
    end: int
    page: int | None
    section_path: tuple[str, ...]
    index_text: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class ChunkTemplate(Protocol):
    name: str

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]: ...


def check_sizes(chunk_size: int, overlap: int) -> None:
    """The size rules every template shares (those of the general template); a `ValueError` when broken."""
    if not isinstance(chunk_size, int) or chunk_size < 50:
        raise ValueError(f"chunk_size must be an integer >= 50 characters, got {chunk_size!r}")
    if not isinstance(overlap, int) or not 0 <= overlap < chunk_size // 2:
        raise ValueError(f"overlap must be an integer >= 0 and less than half of chunk_size, got {overlap!r}")


def reject_unknown(template: str, params: dict[str, Any], valid: Iterable[str] = ()) -> None:
    """A `ValueError` naming the parameters a template does not know, and the ones it does."""
    if params:
        known = ", ".join(["chunk_size", "overlap", *valid])
        raise ValueError(f"template {template!r} got unknown parameter(s) {', '.join(sorted(params))}; valid: {known}")


class SizedTemplate:
    """A template whose only parameters are the chunk size and overlap; unknown parameters are a ValueError."""

    name = "sized"

    def __init__(self, chunk_size: int = 800, overlap: int = 120, **unknown: Any) -> None:
        check_sizes(chunk_size, overlap)
        reject_unknown(self.name, unknown)
        self.chunk_size = chunk_size
        self.overlap = overlap


@dataclass(frozen=True)
class Line:
    """One non-blank line of an element, with its exact span in the document text."""

    text: str
    start: int
    end: int
    page: int | None
    section_path: tuple[str, ...]
    kind: str


def lines_of(elements: Iterable[Element]) -> list[Line]:
    """The non-blank lines of the elements, stripped, in document order."""
    out = []
    for el in elements:
        pos = 0
        for raw in el.text.split("\n"):
            stripped = raw.strip()
            if stripped:
                start = el.start + pos + (len(raw) - len(raw.lstrip()))
                out.append(Line(stripped, start, start + len(stripped), el.page, el.section_path, el.kind))
            pos += len(raw) + 1
    return out


def piece(text: str, start: int, end: int, like: Element | Line, section: tuple[str, ...] | None = None) -> Element:
    """An element for the span ``text[start:end]`` (the document text), located like `like`."""
    return Element(text[start:end], like.kind, like.page, like.section_path if section is None else section, start, end)


@dataclass(frozen=True)
class _View(ParsedDocument):
    """The whole document text with only some of its elements, so the general packing can run on a part."""

    full_text: str = ""

    @property
    def text(self) -> str:  # type: ignore[override]
        return self.full_text


def general_split(text: str, elements: Sequence[Element], chunk_size: int, overlap: int) -> list[ChunkDraft]:
    """The general template's sentence-aware packing on some elements (or pieces) of a document whose full text
    is `text`, in document order; spans index `text` exactly. A chunk never spans two section paths, nor any text
    left out of `elements` (e.g. a table row or a Q&A pair between two pieces)."""
    from ingest.templates.general import GeneralTemplate  # general imports this module

    general = GeneralTemplate(chunk_size=chunk_size, overlap=overlap)
    drafts: list[ChunkDraft] = []
    run: list[Element] = []
    for el in [*elements, None]:
        if el is not None and (not run or not text[run[-1].end : el.start].strip()):
            run.append(el)
            continue
        if run:
            drafts += general.split(_View("", "", tuple(run), "", {}, text))
        run = [el] if el is not None else []
    return drafts


def decorate(drafts: Iterable[ChunkDraft], prefix: str = "", **fields: Any) -> list[ChunkDraft]:
    """The drafts with `fields` added and, when `prefix` is given, ``prefix + "\\n" + text`` as their index text."""
    return [
        replace(d, index_text=f"{prefix}\n{d.text}" if prefix else d.index_text, fields={**d.fields, **fields})
        for d in drafts
    ]


_CELL_SEP = re.compile(r"\s*\|\s*")


def split_cells(line: str) -> list[str]:
    """The cells of a table line as the parser writes it (``a | b | c``); a leading empty cell is kept."""
    return _CELL_SEP.split(line.strip())


def header_size(lines: Sequence[str]) -> int:
    """How many leading lines of a table form its header: 1, or 2 when the first is a lone caption row
    (``Stanley Cups |  |``) above the column names."""
    if len(lines) > 2:
        first, second = split_cells(lines[0]), split_cells(lines[1])
        if sum(1 for c in first if c) <= 1 < sum(1 for c in second if c) and len(first) == len(second):
            return 2
    return 1 if lines else 0


__all__ = [
    "ChunkDraft",
    "ChunkTemplate",
    "Line",
    "check_sizes",
    "decorate",
    "general_split",
    "header_size",
    "lines_of",
    "piece",
    "reject_unknown",
    "sentence_spans",
    "split_cells",
]
