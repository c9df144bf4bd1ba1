"""Metadata enrichment: a parsed document → the normalised document-level metadata to store.

Runs once per document, after parsing and before chunking. Pure and fast (no model unless an LLM is given): dates
become ISO-8601 UTC, the language is detected when the parser gave none, and keywords are extracted — English by
stopword-split candidate phrases scored on frequency (RAKE-like), Chinese by jieba's TF-IDF.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from app.adapters.text_decoding import detect_language
from app.core.domain import ParsedDocument
from app.core.text import sentence_spans
from ingest.keywords import extract_keywords, jieba_tags

log = logging.getLogger(__name__)

_MONTHS = "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%d.%m.%Y"
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([Zz+\-])(\d{2})?'?(\d{2})?'?)?$")
_ZH_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日")
_LLM_CHARS = 6000
_PROMPT = (
    "Read the start of a document and reply with one JSON object only, no other text:\n"
    '{{"summary": "<2-3 sentences on what the document is about>", '
    '"questions": ["<a question this document answers>", "..."]}}\n'
    "Give at most 5 questions. Write in the document's language ({language}).\n\n"
    "Title: {title}\nDocument:\n<<<\n{text}\n>>>"
)


class MetadataEnricher:
    """Normalises what the parser found and adds keywords (and, with an LLM, a summary and likely questions).

    Usage::

        enricher = MetadataEnricher(max_keywords=8)
        meta = enricher.enrich(parsed, {"filename": "handbook.pdf", "size_bytes": 52311})
        meta["keywords"], meta["created_at"]  # ['annual leave', ...], '2024-03-01T09:30:00Z'
    """

    def __init__(
        self, max_keywords: int = 8, llm: Callable[[str], str] | None = None, language_fallback: str = "en"
    ) -> None:
        if isinstance(max_keywords, bool) or not isinstance(max_keywords, int) or not 0 <= max_keywords <= 50:
            raise ValueError(f"max_keywords must be an integer from 0 to 50, got {max_keywords!r}")
        if llm is not None and not callable(llm):
            raise ValueError(f"llm must be a callable prompt -> completion, or None; got {llm!r}")
        self.max_keywords, self.llm, self.language_fallback = max_keywords, llm, language_fallback

    def warm_up(self) -> None:
        """Load jieba's dictionary (about a second) now rather than in the first Chinese document's enrichment."""
        jieba_tags("预热", 1)

    def enrich(self, doc: ParsedDocument, source: dict[str, Any], max_keywords: int | None = None) -> dict[str, Any]:
        """The document-level metadata to store; keys whose value is unknown are absent.

        Args:
            doc: the parsed document; ``doc.metadata`` holds what the parser found.
            source: ``filename``, ``size_bytes`` and optionally ``source_uri``.
            max_keywords: overrides the constructor's number of keywords for this call.

        Returns:
            JSON-safe metadata: title, author, created_at, modified_at, source, source_uri, size_bytes, file_type,
            language, page_count, keywords, e-mail subject/from/to; with an LLM also summary and likely_questions,
            or enrichment_error. Never raises on odd metadata or LLM output.
        """
        meta, text = doc.metadata, doc.text
        out: dict[str, Any] = {
            "title": _clean(meta.get("title") or doc.title),
            "author": _clean(meta.get("author") or meta.get("from")),
            "created_at": normalise_date(meta.get("created_at") or meta.get("date")),
            "modified_at": normalise_date(meta.get("modified_at")),
            "source": _clean(source.get("filename")),
            "source_uri": _clean(source.get("source_uri")),
            "file_type": _clean(str(meta.get("file_type") or doc.file_type or "").lower().lstrip(".")),
            "size_bytes": _positive_int(source.get("size_bytes")),
            "page_count": _positive_int(meta.get("page_count")) or max((e.page or 0 for e in doc.elements), default=0),
        }
        for key in ("subject", "from", "to"):
            out[key] = _clean(meta.get(key))
        language = _iso639(meta.get("language"))
        if language is None and text.strip():
            language = detect_language(text, self.language_fallback)
        out["language"] = language
        n = self.max_keywords if max_keywords is None else max_keywords
        out["keywords"] = extract_keywords(text, n) if n > 0 else None
        if self.llm is not None:
            out.update(self._llm_fields(out.get("title") or "", text, language or self.language_fallback))
        return {k: v for k, v in out.items() if v not in (None, "", [], 0)}

    def _llm_fields(self, title: str, text: str, language: str) -> dict[str, Any]:
        prompt = _PROMPT.format(language=language, title=title, text=text[:_LLM_CHARS])
        try:
            completion = self.llm(prompt) if self.llm else ""
        except Exception as e:  # an external model failing must not fail the ingest
            log.warning("llm enrichment failed", extra={"error": repr(e)})
            return {"enrichment_error": f"llm call failed: {type(e).__name__}: {e}"[:300]}
        return parse_llm_enrichment(completion)


def normalise_date(value: Any) -> str | None:
    """A date as the parsers give it → ``YYYY-MM-DDTHH:MM:SSZ`` (UTC); None when it cannot be read.

    Accepts datetime/date objects, unix seconds, ISO 8601, e-mail (RFC 2822) Date headers, PDF ``D:YYYYMMDDHHmmSS``
    dates, ``2024/03/01``, ``1 March 2024``, ``March 1, 2024``, ``01.03.2024`` and ``2024年3月1日``. Naive = UTC.
    """
    dt = _to_datetime(value)
    if dt is None:
        return None
    try:
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-05:00 is past the last representable UTC time
        return None
    return dt.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC) if 0 < value < 32_503_680_000 else None  # up to year 3000
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    if m := _PDF_DATE.match(s):
        y, mo, d, h, mi, sec, sign, tzh, tzm = m.groups()
        tz = "" if sign in (None, "Z", "z") else f"{sign}{tzh or '00'}:{tzm or '00'}"
        s = f"{y}-{mo or '01'}-{d or '01'}T{h or '00'}:{mi or '00'}:{sec or '00'}{tz}"
    elif m := _ZH_DATE.match(s):
        s = f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        pass
    for fmt in _MONTHS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        return None


def parse_llm_enrichment(completion: str) -> dict[str, Any]:
    """``summary`` and ``likely_questions`` from an LLM's completion; what is missing or malformed is left out and
    named in ``enrichment_error``. Tolerates code fences and prose around the JSON object."""
    data = _first_json_object(completion if isinstance(completion, str) else "")
    if data is None:
        return {"enrichment_error": "llm reply has no JSON object"}
    out: dict[str, Any] = {}
    errors: list[str] = []
    summary = data.get("summary")
    if isinstance(summary, str) and summary.strip():
        text = " ".join(summary.split())
        spans = sentence_spans(text)
        out["summary"] = text[: spans[min(2, len(spans) - 1)][1]][:1200]
    else:
        errors.append("no summary")
    questions = data.get("questions", data.get("likely_questions"))
    if isinstance(questions, list):
        kept = [" ".join(q.split())[:300] for q in questions if isinstance(q, str) and q.strip()]
        out["likely_questions"] = list(dict.fromkeys(kept))[:5]
    if not out.get("likely_questions"):
        out.pop("likely_questions", None)
        errors.append("no questions")
    if errors:
        out["enrichment_error"] = "llm reply: " + ", ".join(errors)
    return out


def _first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object holding a known key (else the first object at all) found anywhere in the text."""
    decoder, found = json.JSONDecoder(), None
    for m in re.finditer(r"\{", text[:50_000]):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict) and {"summary", "questions", "likely_questions"} & obj.keys():
            return obj
        found = found or (obj if isinstance(obj, dict) else None)
    return found


def _iso639(value: Any) -> str | None:
    code = re.split(r"[-_]", value.strip().lower())[0] if isinstance(value, str) else ""
    return code if re.fullmatch(r"[a-z]{2}", code) else None


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value if v)
    return " ".join(str(value).split())[:500] or None


def _positive_int(value: Any) -> int | None:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if n > 0 and not isinstance(value, bool) else None
