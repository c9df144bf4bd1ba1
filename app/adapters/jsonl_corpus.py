"""BEIR corpus files (``corpus.jsonl``): one document per line ``{"_id", "title", "text"}``.

Read with plain ``json``, line by line, so a corpus of thousands of documents parses in milliseconds;
the language is told per document from its script, else once for the whole file.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from app.adapters.text_decoding import cjk_language, langdetect_code
from app.core.domain import Element, ParsedDocument
from app.core.errors import RejectedFileError

logger = logging.getLogger(__name__)

_LANGUAGE_SAMPLE_DOCS = 50


def read_beir_jsonl(path: str, filename: str, language_fallback: str = "en") -> list[ParsedDocument]:
    """One `ParsedDocument` per line, ``external_id`` = ``_id`` (as a string), ``title`` = ``title``.

    Blank lines are skipped; so are records whose title and text are both empty (logged). A record with an
    empty text but a title keeps the title as its text, so that it stays findable.

    Raises:
        RejectedFileError: ``corrupt`` naming the line (not JSON, not an object, no ``_id``, no ``text``,
            a repeated ``_id``), ``encoding`` (a line that is not UTF-8), ``empty`` (no records at all).
    """
    records: list[tuple[str, str, str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    skipped = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            rec = _record(raw, n, filename)
            doc_id, title, text = _fields(rec, n, filename)
            if doc_id in seen:
                raise RejectedFileError(filename, f"line {n}: _id {doc_id!r} repeats line {seen[doc_id]}", "corrupt")
            seen[doc_id] = n
            if not text.strip():
                if not title.strip():
                    skipped += 1
                    continue
                text = title
            extra = rec.get("metadata")
            records.append((doc_id, title, text.strip(), extra if isinstance(extra, dict) else {}))
    if skipped:
        logger.warning("skipped records with neither title nor text", extra={"file": filename, "skipped": skipped})
    if not records and not skipped:
        raise RejectedFileError(filename, "file contains no JSON lines", code="empty")
    sample = " ".join(r[2][:500] for r in records[:_LANGUAGE_SAMPLE_DOCS])
    corpus_language = cjk_language(sample) or langdetect_code(sample, language_fallback)
    return [_document(doc_id, title, text, extra, corpus_language) for doc_id, title, text, extra in records]


def _record(raw: bytes, n: int, filename: str) -> dict[str, Any]:
    try:
        line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise RejectedFileError(filename, f"line {n} is not valid UTF-8", code="encoding") from e
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise RejectedFileError(filename, f"line {n} is not valid JSON: {e.msg} (column {e.colno})", "corrupt") from e
    if not isinstance(rec, dict):
        raise RejectedFileError(filename, f"line {n} is not a JSON object with _id, title and text", "corrupt")
    return rec


def _fields(rec: dict[str, Any], n: int, filename: str) -> tuple[str, str, str]:
    doc_id = rec.get("_id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or not str(doc_id).strip():
        raise RejectedFileError(filename, f"line {n} has no '_id' (a non-empty string or integer)", "corrupt")
    text = rec.get("text")
    if not isinstance(text, str):
        raise RejectedFileError(filename, f"line {n} has no 'text' string", code="corrupt")
    title = rec.get("title")
    return str(doc_id), title.strip() if isinstance(title, str) else "", text


def _document(doc_id: str, title: str, text: str, extra: dict[str, Any], corpus_language: str) -> ParsedDocument:
    language = cjk_language(text[:2000]) or corpus_language
    metadata: dict[str, Any] = {k: v for k, v in extra.items() if isinstance(v, str | int | float | bool)}
    metadata.update(title=title, language=language, file_type="jsonl")
    element = Element(text=text, kind="text", start=0, end=len(text))
    return ParsedDocument(external_id=doc_id, title=title, elements=(element,), file_type="jsonl", metadata=metadata)
