"""Validation of suite rows: raw JSON objects or CSV records in, `SuiteCase`s or row-level error messages out.

Every problem is reported with where it is ("line 4", "row 2", "query 17") so a QA engineer can fix the file;
all rows are checked before anything is raised, so one run lists every mistake (up to `MAX_LISTED`).
`eval/suites.py` holds the public readers and writers built on this.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from app.core.errors import InvalidInputError
from eval.results import SuiteCase

FIELDS = ("id", "question", "reference_answer", "reference_document_ids", "reference_contexts", "answerable", "tags")
LIST_FIELDS = ("reference_document_ids", "reference_contexts", "tags")
SINGLE_STRING_OK = ("reference_document_ids", "tags")  # a lone string is a one-element list; contexts must be lists
MAX_QUESTION_CHARS = 4000
MAX_ID_CHARS = 200
MAX_LISTED = 50
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


class SuiteError(InvalidInputError):
    """A suite that cannot be used. `errors` holds every problem, each prefixed with where it is ("line 4: …")."""

    def __init__(self, errors: list[str], source: str = "suite") -> None:
        self.errors = list(errors)
        listed = self.errors[:MAX_LISTED]
        more = len(self.errors) - len(listed)
        head = f"{source}: " + ("1 problem" if len(self.errors) == 1 else f"{len(self.errors)} problems")
        lines = [head, *listed] + ([f"… and {more} more"] if more else [])
        super().__init__("\n".join(lines), "suite")


def question_id(question: str) -> str:
    """The id of a case that has none: stable for the same question text."""
    return "q-" + hashlib.sha256(question.encode("utf-8")).hexdigest()[:10]


def suite_id(cases: Iterable[SuiteCase]) -> str:
    """Content hash of the cases (name excluded): the same cases are the same suite."""
    canonical = json.dumps([c.to_dict() for c in cases], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "s-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def unknown_field(name: str) -> str:
    """`unknown field "x" (did you mean "y"?); allowed: …`."""
    close = difflib.get_close_matches(name, FIELDS, n=1, cutoff=0.75)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f'unknown field "{name}"{hint}; allowed: {", ".join(FIELDS)}'


def csv_header_error(columns: set[str]) -> str | None:
    """Why a CSV header cannot be read as a suite, or None."""
    if not columns:
        return "the file is empty (a CSV suite starts with a header row: id,question,…)"
    names = {c.strip().lstrip("\ufeff") for c in columns if c is not None} - {""}
    unknown = sorted(n for n in names if n not in FIELDS)
    if unknown:
        more = f" (and {len(unknown) - 1} more unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        return unknown_field(unknown[0]) + more
    if "question" not in names:
        return f'the header has no "question" column; columns are: {", ".join(FIELDS)}'
    return None


def _kind(value: Any) -> str:
    """How a JSON value reads in a message: `"maybe"`, number 3, a list, an object."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _answerable(value: Any) -> bool | str:
    if _blank(value):
        return True
    if isinstance(value, bool):
        return value
    key = value.strip().lower() if isinstance(value, str) else value if isinstance(value, int) else None
    if key in _TRUE or key == 1:
        return True
    if key in _FALSE or key == 0:
        return False
    return f'"answerable" must be true or false, got {_kind(value)}'


def _list(field: str, value: Any, from_csv: bool) -> tuple[str, ...] | str:
    """A list field as a tuple of non-empty strings, or what is wrong with it."""
    if _blank(value):
        return ()
    if from_csv and isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                return f'"{field}" starts with "[" but is not a valid JSON array ({e.msg}); use a JSON array or a|b|c'
        else:
            value = text.split("|")
    if isinstance(value, str):
        if field not in SINGLE_STRING_OK:
            return f'"{field}" must be a list of strings, got a string (write ["…"])'
        value = [value]
    if not isinstance(value, list):
        return f'"{field}" must be a list of strings, got {_kind(value)}'
    for i, item in enumerate(value):
        if not isinstance(item, str):
            return f'"{field}" item {i + 1} must be a string, got {_kind(item)}'
    items = [s.strip() for s in value if s.strip()]
    if field != "reference_contexts":  # ids and tags: the same value twice means nothing more
        items = list(dict.fromkeys(items))
    return tuple(items)


def _text(field: str, value: Any, from_csv: bool) -> str | None | list[str]:
    """An optional string field, stripped; None when absent or blank; a one-item list of error on a wrong type."""
    if _blank(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and field == "id" and not from_csv:
        value = str(value)  # JSON ids written as numbers (BEIR style)
    if not isinstance(value, str):
        return [f'"{field}" must be a string, got {_kind(value)}']
    return value.strip()


def parse_case(row: Any, from_csv: bool) -> SuiteCase | list[str]:
    """One raw row → a case, or every problem it has (without the location prefix)."""
    if isinstance(row, str):  # suite_records' error for a line that is not JSON
        return [row]
    if not isinstance(row, dict):
        return [f"expected a JSON object, got {_kind(row)}"]
    problems: list[str] = []
    fields: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:  # csv.DictReader puts the cells beyond the header under None
            problems.append(f"{len(value)} more cell(s) than the header has columns (quote cells that hold commas)")
            continue
        name = key.strip().lstrip("\ufeff") if from_csv else key
        if from_csv and not name:  # a header with a trailing comma: fine while its cells stay empty
            if not _blank(value):
                problems.append(f"a cell under a column with no name in the header: {_kind(value)}")
            continue
        if name not in FIELDS:
            problems.append(unknown_field(name))
        else:
            fields[name] = value
    values: dict[str, Any] = {}
    for name in ("id", "question", "reference_answer"):
        got = _text(name, fields.get(name), from_csv)
        if isinstance(got, list):
            problems += got
            got = None
        values[name] = got
    question = values["question"]
    if "question" not in fields:
        problems.append('"question" is missing')
    elif question is None and _blank(fields["question"]):
        problems.append('"question" is empty')
    elif question is not None and len(question) > MAX_QUESTION_CHARS:
        problems.append(f'"question" has {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}')
    if values["id"] is not None and len(values["id"]) > MAX_ID_CHARS:
        problems.append(f'"id" has {len(values["id"]):,} characters; the limit is {MAX_ID_CHARS}')
    answerable = _answerable(fields.get("answerable"))
    if isinstance(answerable, str):
        problems.append(answerable)
    lists: dict[str, tuple[str, ...]] = {}
    for name in LIST_FIELDS:
        got_list = _list(name, fields.get(name), from_csv)
        if isinstance(got_list, str):
            problems.append(got_list)
        else:
            lists[name] = got_list
    if problems or question is None:
        return problems
    return SuiteCase(
        id=values["id"] or question_id(question),
        question=question,
        reference_answer=values["reference_answer"],
        reference_document_ids=lists["reference_document_ids"],
        reference_contexts=lists["reference_contexts"],
        answerable=bool(answerable),
        tags=lists["tags"],
    )


def validate(records: Iterable[tuple[str, Any]], from_csv: bool, max_rows: int, source: str) -> list[SuiteCase]:
    """Every (location, raw row) checked; the cases in order, or a SuiteError listing all problems.

    Raises:
        SuiteError: any row is invalid, ids repeat, there are no rows or more than `max_rows`.
    """
    if max_rows < 1:
        raise SuiteError([f"max_rows must be at least 1, got {max_rows}"], source)
    cases: list[SuiteCase] = []
    errors: list[str] = []
    first_seen: dict[str, tuple[str, bool]] = {}  # id → (location, id was given explicitly)
    count = 0
    for where, row in records:
        count += 1
        if count > max_rows:
            errors.append(
                f"{where}: the suite has more than {max_rows:,} rows (the limit); split it into smaller suites"
            )
            break
        case = parse_case(row, from_csv)
        if isinstance(case, list):
            errors += [f"{where}: {p}" for p in case]
            continue
        explicit = isinstance(row, dict) and case.id != question_id(case.question)
        if case.id in first_seen:
            first, first_explicit = first_seen[case.id]
            if explicit or first_explicit:
                errors.append(f'{where}: duplicate id "{case.id}" (first on {first})')
            else:
                errors.append(f'{where}: the same question as {first}; give the rows different "id"s or drop one')
            continue
        first_seen[case.id] = (where, explicit)
        cases.append(case)
    if not count:
        errors.append("the suite has no rows")
    if errors:
        raise SuiteError(errors, source)
    return cases
