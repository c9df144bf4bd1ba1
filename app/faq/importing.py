"""Validation of FAQ entries and parsing of import files (CSV, JSONL, a JSON array).

Columns: `question`, `answer` (required), `alt_questions` (in CSV `|`-separated), `tags` (`|`- or `,`-separated),
`active` (true/false). Chinese headers work too: 问题, 答案, 相似问题, 标签, 启用. Unknown columns are ignored and
reported. Every row is checked before anything is stored; `FaqImportError` lists all bad rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.adapters.text_decoding import decode_text
from app.core.errors import InvalidInputError, RejectedFileError
from app.faq.errors import FaqImportError
from app.faq.matcher import normalize

MAX_QUESTION = 1000
MAX_ANSWER = 20_000
MAX_ALT_QUESTIONS = 50
MAX_TAGS = 20
MAX_TAG = 64
MAX_ROWS = 10_000
MAX_ERRORS = 100  # a file that is wrong throughout gets the first hundred, not a million

FORMATS = ("csv", "jsonl")
FIELDS = ("question", "answer", "alt_questions", "tags", "active")
_ALIASES = {
    "question": ("question", "questions", "q", "问题", "标准问题", "问"),
    "answer": ("answer", "answers", "a", "答案", "回答", "标准答案", "答"),
    "alt_questions": (
        "alt_questions", "alt_question", "alternatives", "alternative_questions", "相似问题", "相似问法", "其他问法",
    ),
    "tags": ("tags", "tag", "标签"),
    "active": ("active", "enabled", "启用"),
}  # fmt: skip
HEADER = {alias: field for field, aliases in _ALIASES.items() for alias in aliases}
Rows = list[tuple[int, dict[str, Any]]]  # (row number, {field: value})
_TRUE = frozenset({"true", "1", "yes", "y", "是", "启用"})
_FALSE = frozenset({"false", "0", "no", "n", "否", "停用"})


class FieldError(ValueError):
    """A value a caller can fix; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class EntryFields:
    """The curated content of one entry, validated."""

    question: str
    answer: str
    alt_questions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    active: bool = True


def question_identity(question: str) -> str:
    """What makes two questions the same: the normalised text (case, width, spacing, end punctuation ignored)."""
    return normalize(question).rstrip("?？!！。. ")


def clean_question(value: Any, field: str = "question") -> str:
    """A question: text, 1..1000 characters after trimming. Raises FieldError."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field.split()[0], f"{field} is required and must be non-empty text")
    text = " ".join(value.split())
    if len(text) > MAX_QUESTION:
        raise FieldError(field.split()[0], f"{field} is longer than {MAX_QUESTION} characters")
    return text


def clean_answer(value: Any) -> str:
    """An answer: text, 1..20000 characters; line breaks are kept."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError("answer", "answer is required and must be non-empty text")
    if len(value.strip()) > MAX_ANSWER:
        raise FieldError("answer", f"answer is longer than {MAX_ANSWER} characters")
    return value.strip()


def clean_alt_questions(value: Any, question: str = "") -> tuple[str, ...]:
    """Alternative phrasings: a list (or a `|`-separated string); blanks and repeats of the question dropped."""
    items = _items(value, "alt_questions", r"\|")
    out: dict[str, str] = {}
    for item in items:
        q = clean_question(item, "alt_questions item")
        if question_identity(q) != question_identity(question):
            out.setdefault(question_identity(q), q)
    if len(out) > MAX_ALT_QUESTIONS:
        raise FieldError("alt_questions", f"at most {MAX_ALT_QUESTIONS} alt_questions")
    return tuple(out.values())


def clean_tags(value: Any) -> tuple[str, ...]:
    """Tags: a list (or a `|`/`,`-separated string) of up to 20 labels of up to 64 characters."""
    tags = tuple(dict.fromkeys(" ".join(t.split()) for t in _items(value, "tags", r"[|,，]") if t.strip()))
    if len(tags) > MAX_TAGS:
        raise FieldError("tags", f"at most {MAX_TAGS} tags")
    if any(len(t) > MAX_TAG for t in tags):
        raise FieldError("tags", f"a tag is longer than {MAX_TAG} characters")
    return tags


def clean_active(value: Any) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise FieldError("active", "active must be true or false")


def _items(value: Any, field: str, separator: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [p for p in re.split(separator, value) if p.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    raise FieldError(field, f"{field} must be a list of strings")


def validate(raw: Mapping[str, Any]) -> EntryFields:
    """One entry from a mapping with the canonical field names. Raises FieldError for the first bad field."""
    question = clean_question(raw.get("question"))
    return EntryFields(
        question,
        clean_answer(raw.get("answer")),
        clean_alt_questions(raw.get("alt_questions"), question),
        clean_tags(raw.get("tags")),
        clean_active(raw.get("active")),
    )


def validate_rows(rows: Rows) -> list[EntryFields]:
    """Every row validated, or FaqImportError listing each bad row (also a question given twice in the file)."""
    if not rows:
        raise FaqImportError([{"row": 0, "field": None, "error": "the file has no rows"}], 0)
    if len(rows) > MAX_ROWS:
        raise FaqImportError([{"row": rows[MAX_ROWS][0], "field": None, "error": f"more than {MAX_ROWS} rows"}], 0)
    errors: list[dict[str, Any]] = []
    out: list[EntryFields] = []
    first_row: dict[str, int] = {}
    for row, raw in rows:
        try:
            fields = validate(raw)
        except FieldError as e:
            errors.append({"row": row, "field": e.field, "error": str(e)})
            continue
        key = question_identity(fields.question)
        if key in first_row:
            errors.append({"row": row, "field": "question", "error": f"same question as row {first_row[key]}"})
            continue
        first_row[key] = row
        out.append(fields)
    if errors:
        raise FaqImportError(errors[:MAX_ERRORS], len(rows))
    return out


def parse_file(data: bytes, filename: str = "", fmt: str | None = None) -> tuple[Rows, list[str]]:
    """Rows of an import file as (row number, {field: value}) and the ignored column names.

    The format is `fmt` when given, else the file extension (.csv/.tsv, .jsonl/.ndjson/.json), else sniffed.

    Raises:
        InvalidInputError: an unknown format, or bytes that are not text.
        FaqImportError: rows that cannot be parsed, or CSV without the required columns.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}", "format")
    try:
        text = decode_text(data, filename or "import file")
    except RejectedFileError as e:
        raise InvalidInputError(f"the import file is not text: {e.reason}", "file") from e
    name = filename.lower()
    if fmt is None:
        if name.endswith((".jsonl", ".ndjson", ".json")):
            fmt = "jsonl"
        elif name.endswith((".csv", ".tsv", ".txt")):
            fmt = "csv"
        else:
            fmt = "jsonl" if text.lstrip().startswith(("{", "[")) else "csv"
    return parse_jsonl(text) if fmt == "jsonl" else parse_csv(text)


def parse_csv(text: str) -> tuple[Rows, list[str]]:
    """CSV (or `;`/tab-separated) with a header row; row numbers as a spreadsheet shows them (header = 1)."""
    head = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max(",;\t", key=head.count) if head else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
        columns = [HEADER.get(h.strip().lower()) for h in header]
        missing = [f for f in ("question", "answer") if f not in columns]
        if missing:
            found = ", ".join(h.strip() for h in header) or "nothing"
            error = f"missing column(s) {', '.join(missing)} in the header row (found: {found})"
            raise FaqImportError([{"row": 1, "field": missing[0], "error": error}], 0)
        ignored = [h.strip() for h, c in zip(header, columns, strict=True) if c is None and h.strip()]
        rows = []
        for n, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            rows.append((n, {c: v for c, v in zip(columns, record, strict=False) if c is not None}))
    except csv.Error as e:
        raise FaqImportError([{"row": reader.line_num, "field": None, "error": f"not valid CSV: {e}"}], 0) from e
    return rows, ignored


def parse_jsonl(text: str) -> tuple[Rows, list[str]]:
    """One JSON object per line (blank lines skipped), or a single JSON array of objects."""
    stripped = text.lstrip("\ufeff").strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise FaqImportError([{"row": e.lineno, "field": None, "error": f"not valid JSON: {e.msg}"}], 0) from e
        lines = list(enumerate(items, start=1))
    else:
        lines = []
        errors = []
        for n, line in enumerate(stripped.splitlines(), start=1):
            if line.strip():
                try:
                    lines.append((n, json.loads(line)))
                except json.JSONDecodeError as e:
                    errors.append({"row": n, "field": None, "error": f"not valid JSON: {e.msg}"})
        if errors:
            raise FaqImportError(errors[:MAX_ERRORS], len(lines) + len(errors))
    rows: Rows = []
    ignored: dict[str, None] = {}
    bad: list[dict[str, Any]] = []
    for n, item in lines:
        if not isinstance(item, dict):
            bad.append({"row": n, "field": None, "error": "each row must be a JSON object"})
            continue
        row: dict[str, Any] = {}
        for key, value in item.items():
            field = HEADER.get(str(key).strip().lower())
            if field is None:
                ignored[str(key)] = None
            else:
                row[field] = value
        rows.append((n, row))
    if bad:
        raise FaqImportError(bad[:MAX_ERRORS], len(lines))
    return rows, list(ignored)
