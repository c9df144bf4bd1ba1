"""The `paper` template: the abstract, the body section by section, and the references, each chunked apart."""

from __future__ import annotations

import re
from typing import Any

from app.core.domain import Element, ParsedDocument
from ingest.templates.base import ChunkDraft, check_sizes, decorate, general_split, reject_unknown
from ingest.templates.manual import HeadingDetector, looks_like_heading

_ABSTRACT_HEADING = re.compile(r"^(?:abstract|摘\s*要)\s*[.:：]?$", re.IGNORECASE)
_ABSTRACT_INLINE = re.compile(r"^(?:abstract|摘\s*要)\s*[.:：—–-]\s*\S", re.IGNORECASE)
_REFERENCES = re.compile(
    r"^(?:[\dIVX]+\.?\s+)?(?:references|bibliography|works cited|literature cited|参考文献)\s*[:：]?$", re.IGNORECASE
)
_AFTER_REFERENCES = re.compile(r"^(?:[A-Z]\.?\s+)?(?:appendix|appendices|supplementary|附录)", re.IGNORECASE)
_KEYWORDS = re.compile(r"^(?:keywords|key words|index terms|关键词)\s*[:：—-]", re.IGNORECASE)
REFERENCES_MODES = ("keep", "drop")


def parts(doc: ParsedDocument) -> list[tuple[str, Element]]:
    """Every element with the part of the paper it belongs to: "abstract", "body" or "references".

    The abstract starts at an ``Abstract`` heading or a paragraph opening with ``Abstract.``/``摘要：`` and ends at
    the next heading or keywords line; the references start at a ``References`` heading (or ``参考文献``) and run
    to the end or to an appendix."""
    detector = HeadingDetector()
    out: list[tuple[str, Element]] = []
    part = "body"
    for el in doc.elements:
        line = el.text.strip()
        heading = el.kind == "title" and looks_like_heading(line) or detector.level(line) is not None
        if _ABSTRACT_HEADING.match(line) or _ABSTRACT_INLINE.match(line):
            part = "abstract"
        elif len(line) <= 60 and _REFERENCES.match(line):
            part = "references"
        elif part == "abstract" and (heading or _KEYWORDS.match(line)):
            part = "body"
        elif part == "references" and heading and _AFTER_REFERENCES.match(line):
            part = "body"
        out.append((part, el))
    return out


def has_abstract(doc: ParsedDocument) -> bool:
    """Whether the document has an abstract near its start."""
    return any(p == "abstract" and el.start < 5000 for p, el in parts(doc))


def has_references(doc: ParsedDocument) -> bool:
    return any(p == "references" for p, _ in parts(doc))


class PaperTemplate:
    """Scientific papers: the abstract is chunked on its own (``fields["part"] = "abstract"``), the body section by
    section (``part="body"``, ``section`` = the joined heading path), and the references apart from both
    (``part="references"``), or left out with ``references="drop"``.

    Usage::

        drafts = PaperTemplate(references="drop").split(parsed_pdf)
        {d.fields["part"] for d in drafts}  # {"abstract", "body"}
    """

    name = "paper"

    def __init__(self, chunk_size: int = 800, overlap: int = 120, references: str = "keep", **unknown: Any) -> None:
        check_sizes(chunk_size, overlap)
        reject_unknown(self.name, unknown, ["references"])
        if references not in REFERENCES_MODES:
            raise ValueError(f"references must be one of {', '.join(REFERENCES_MODES)}, got {references!r}")
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.references = references

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        text = doc.text
        drafts: list[ChunkDraft] = []
        runs: list[tuple[str, list[Element]]] = []
        for part, el in parts(doc):
            if runs and runs[-1][0] == part:
                runs[-1][1].append(el)
            else:
                runs.append((part, [el]))
        for part, elements in runs:
            if part == "references" and self.references == "drop":
                continue
            chunks = general_split(text, elements, self.chunk_size, self.overlap)
            if part == "body":
                for d in chunks:
                    drafts += decorate([d], part="body", section=" > ".join(d.section_path))
            else:
                drafts += decorate(chunks, part=part)
        return drafts
