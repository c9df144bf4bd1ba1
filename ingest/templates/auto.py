"""`auto`: the template for a document, chosen from its file type and structure, with the reason why."""

from __future__ import annotations

import re

from app.core.domain import ParsedDocument
from ingest.templates.base import ChunkDraft, SizedTemplate, lines_of
from ingest.templates.laws import find_marker
from ingest.templates.manual import sectioned
from ingest.templates.paper import has_abstract, has_references
from ingest.templates.qa import table_pairs, text_pairs

PRESENTATION_TYPES = {"pptx", "ppt", "odp", "key"}
EMAIL_TYPES = {"eml", "msg"}
TABLE_TYPES = {"csv", "tsv", "xlsx", "xls", "ods"}
MIN_ARTICLES = 3
ARTICLE_SHARE = 0.02  # of the lines: a handbook that cites "Section 152 …" a few times is no law
MIN_TEXT_PAIRS = 3
MIN_HEADINGS = 3
_INTRODUCTION = re.compile(r"^(?:[\dIVX]+\.?\s+)?(?:introduction|引言|前言|绪论)$", re.IGNORECASE)


def choose(doc: ParsedDocument) -> tuple[str, str]:
    """The template for `doc` and a reason people can read, e.g. ``("slides", "presentation (pptx)")``.

    File type first (presentations → slides, e-mails → email, spreadsheets → qa or table), then structure: article
    markers → laws, ``Q:``/``A:`` pairs → qa, an abstract with references or an introduction → paper, a heading
    tree → manual; otherwise general.
    """
    file_type = doc.file_type.lower()
    if file_type in PRESENTATION_TYPES:
        return "slides", f"presentation ({file_type}): one chunk per slide"
    if file_type in EMAIL_TYPES:
        return "email", f"e-mail ({file_type}): headers on every chunk, quoted history apart"
    tables = [e for e in doc.elements if e.kind == "table"]
    table_chars = sum(len(e.text) for e in tables)
    if file_type in TABLE_TYPES or (tables and table_chars > 0.8 * len(doc.text)):
        rows = sum(len(table_pairs(e)[0]) for e in tables)
        if rows:
            return "qa", f"table with question and answer columns ({rows} pairs)"
        if tables:
            return "table", f"{file_type} table(s): {len(tables)} table(s), rows grouped under their header"
    lines = lines_of(e for e in doc.elements if e.kind != "table")
    marked = [m[2] for line in lines if (m := find_marker(line.text)) and m[1] == 2]
    articles = list(dict.fromkeys(marked))
    if len(articles) >= MIN_ARTICLES and len(marked) >= ARTICLE_SHARE * len(lines):
        return "laws", f"{len(articles)} numbered articles ({articles[0]}, {articles[1]}, ...)"
    pairs, _ = text_pairs(lines)
    if len(pairs) >= MIN_TEXT_PAIRS:
        return "qa", f"{len(pairs)} question/answer pairs in the text"
    if has_abstract(doc) and (has_references(doc) or _has_introduction(doc)):
        return "paper", "paper-like: an abstract followed by sections" + (
            " and references" if has_references(doc) else ""
        )
    _, headings = sectioned(doc)
    if len(set(headings)) >= MIN_HEADINGS:
        return "manual", f"heading tree with {len(set(headings))} headings"
    return "general", "no slides, e-mail, table, articles, Q&A pairs, paper or heading tree found"


def _has_introduction(doc: ParsedDocument) -> bool:
    return any(len(e.text) <= 40 and _INTRODUCTION.match(e.text.strip()) for e in doc.elements)


class AutoTemplate(SizedTemplate):
    """Chooses a template per document with `choose` and splits with it.

    Usage::

        drafts = AutoTemplate(chunk_size=800, overlap=120).split(parsed_doc)
    """

    name = "auto"

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        from ingest.templates import TEMPLATES  # the registry imports this module

        name, _ = choose(doc)
        return TEMPLATES[name](chunk_size=self.chunk_size, overlap=self.overlap).split(doc)


__all__ = ["AutoTemplate", "choose"]
