"""Evaluation suites for QA teams: read, validate, import and write the question lists a run answers.

A suite is a JSONL or CSV file of rows `{id, question, reference_answer?, reference_document_ids?,
reference_contexts?, answerable?, tags?}` (see `eval/suites_validate.py` for the rules). Mistakes are reported row by
row ("line 4: …") in one `SuiteError`, so a QA engineer fixes the whole file in one pass. Public datasets become
suites through `import_beir` (queries + qrels) and `import_halueval` (HaluEval QA rows).

Usage::

    suite = load_suite("examples/eval/demo-suite.jsonl")
    suite.id, len(suite.cases)
    write_suite(import_beir("scifact/queries.jsonl", "scifact/qrels/test.tsv", "scifact", limit=100), "scifact.jsonl")
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInputError
from eval.results import Suite, SuiteCase
from eval.retrieval import load_qrels, load_queries
from eval.suite_files import suite_records
from eval.suites_validate import MAX_LISTED, SuiteError, csv_header_error, suite_id, validate

__all__ = [
    "MAX_LISTED",
    "SuiteError",
    "import_beir",
    "import_halueval",
    "load_suite",
    "suite_from_rows",
    "write_suite",
]

log = logging.getLogger(__name__)
SUFFIXES = (".jsonl", ".csv")
MAX_ROWS = 10_000
_HALUEVAL_KEYS = ("knowledge", "question", "right_answer")


def _suite(name: str, cases: list[SuiteCase], source: str) -> Suite:
    if not name or not name.strip():
        raise SuiteError(["the suite name must not be empty"], source)
    return Suite(suite_id(cases), name.strip(), tuple(cases))


def _checked_file(path: str | Path, what: str = "suite") -> Path:
    path = Path(path)
    if not path.is_file():
        raise SuiteError([f"{what} file not found: {path}"], path.name or str(path))
    return path


def _read(path: Path, records: Iterable[tuple[str, Any]], from_csv: bool, max_rows: int) -> list[SuiteCase]:
    """`validate` over a file's records, with a file that is not UTF-8 reported as such."""
    try:
        return validate(records, from_csv, max_rows, path.name)
    except UnicodeDecodeError as e:
        raise SuiteError([f"the file is not UTF-8 text ({e.reason} at byte {e.start})"], path.name) from e


def load_suite(path: str | Path, name: str | None = None, max_rows: int = MAX_ROWS) -> Suite:
    """Read and validate a JSONL or CSV suite (chosen by the file's suffix).

    CSV cells of `reference_document_ids`, `reference_contexts` and `tags` hold a JSON array or `a|b|c`;
    `answerable` is true/false/yes/no/1/0 (empty = true). Rows without an `id` get one derived from the question.

    Args:
        path: the `.jsonl` or `.csv` file.
        name: the suite's name; the file's stem when None.
        max_rows: more rows than this is an error.

    Returns:
        The suite; its `id` is a hash of the cases, so the same content read from JSONL or CSV has the same id.

    Raises:
        SuiteError: a wrong suffix, a missing, empty or non-UTF-8 file, or invalid rows (every problem listed
            as "line N: …").
    """
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise SuiteError([f'unsupported suffix "{path.suffix}"; a suite is a {" or ".join(SUFFIXES)} file'], path.name)
    path = _checked_file(path)
    from_csv = path.suffix.lower() == ".csv"
    records = ((f"line {n}", row) for n, row in suite_records(path, csv_header_error))
    cases = _read(path, records, from_csv, max_rows)
    return _suite(path.stem if name is None else name, cases, path.name)


def suite_from_rows(rows: list[dict[str, Any]], name: str, max_rows: int = MAX_ROWS) -> Suite:
    """Validate rows that arrived as JSON (an HTTP body): the JSONL rules, problems reported as "row N: …" (1-based).

    Raises:
        SuiteError: `rows` is not a list, is empty or too long, or rows are invalid.
    """
    source = f'suite "{name}"'
    if not isinstance(rows, list):
        raise SuiteError([f"rows must be a list of objects, got {type(rows).__name__}"], source)
    cases = validate(((f"row {i}", r) for i, r in enumerate(rows, start=1)), False, max_rows, source)
    return _suite(name, cases, source)


def write_suite(suite: Suite, path: str | Path) -> None:
    """Write a suite as JSONL, one case a line (empty optional fields left out); `load_suite` reads it back equal.

    Raises:
        SuiteError: the path does not end in `.jsonl`.
    """
    path = Path(path)
    if path.suffix.lower() != ".jsonl":
        raise SuiteError([f'write_suite writes JSONL; the path must end in ".jsonl", got "{path.suffix}"'], path.name)
    lines = []
    for case in suite.cases:
        d = {k: v for k, v in case.to_dict().items() if v not in (None, [])}
        if d.get("answerable") is True:
            del d["answerable"]
        lines.append(json.dumps(d, ensure_ascii=False) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_limit(limit: int | None, source: str) -> None:
    if limit is not None and limit < 1:
        raise SuiteError([f"limit must be at least 1 (or None for all rows), got {limit}"], source)


def _too_many(count: int, source: str) -> None:
    if count > MAX_ROWS:
        raise SuiteError([f"{count:,} rows is more than the {MAX_ROWS:,} a suite holds; import with a limit"], source)


def import_beir(queries_path: str | Path, qrels_path: str | Path, name: str, limit: int | None = None) -> Suite:
    """One case per BEIR query that has a relevance judgement with score > 0, in the queries file's order.

    The case's `id` is the query id, `reference_document_ids` the judged corpus ids (highest score first), tagged
    "beir". Queries without a positive judgement are left out (BEIR ships one queries file for all splits).

    Raises:
        SuiteError: a file is missing or malformed, no query is judged, or a query's text is invalid.
    """
    queries_file, qrels_file = _checked_file(queries_path, "queries"), _checked_file(qrels_path, "qrels")
    source = f"{queries_file.name} + {qrels_file.name}"
    _check_limit(limit, source)
    try:
        queries, qrels = load_queries(queries_file), load_qrels(qrels_file)
    except InvalidInputError as e:
        raise SuiteError([str(e)], source) from e
    except (UnicodeDecodeError, ValueError) as e:
        raise SuiteError([f"cannot read the BEIR files: {e}"], source) from e
    rows: list[tuple[str, dict[str, Any]]] = []
    for qid, text in queries.items():
        judged = sorted((d for d, s in qrels.get(qid, {}).items() if s > 0), key=lambda d: -qrels[qid][d])
        if judged:
            row = {"id": qid, "question": text, "reference_document_ids": judged, "tags": ["beir"]}
            rows.append((f"query {qid}", row))
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        problem = f"no query of {queries_file.name} has a judgement with score > 0 in {qrels_file.name}"
        raise SuiteError([problem], source)
    _too_many(len(rows), source)
    log.info("imported %d BEIR queries of %d from %s", len(rows), len(queries), queries_file)
    return _suite(name, validate(rows, False, MAX_ROWS, source), source)


def _halueval_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line, HaluEval row or what is wrong with it) for every record."""
    for n, rec in suite_records(path, csv_header_error):
        if isinstance(rec, str):
            yield n, rec
            continue
        if not isinstance(rec, dict):
            yield n, "expected a JSON object with knowledge, question and right_answer"
            continue
        bad = [k for k in _HALUEVAL_KEYS if not isinstance(rec.get(k), str) or not rec[k].strip()]
        if bad:
            yield (
                n,
                "a HaluEval QA row needs non-empty strings knowledge, question, right_answer; bad: " + ", ".join(bad),
            )
            continue
        yield n, rec


def import_halueval(path: str | Path, name: str, limit: int | None = None, unanswerable_share: float = 0.0) -> Suite:
    """Cases from HaluEval QA rows (JSONL with `knowledge`, `question`, `right_answer`), in file order.

    `reference_answer` is the right answer, `reference_contexts` the knowledge passage, the id a hash of question
    and knowledge, tagged "halueval". With `unanswerable_share`, that share of the cases (picked by id hash, so the
    choice is stable) becomes unanswerable: no reference answer or context, `answerable` false, tagged also
    "unanswerable" — build the collection from the answerable cases' contexts and these questions have no evidence.
    A row repeated with the same question and knowledge is kept once.

    Raises:
        SuiteError: the file is missing, not JSONL, has malformed rows, or an argument is out of range.
    """
    path = _checked_file(path, "HaluEval")
    if path.suffix.lower() == ".csv":
        raise SuiteError(["HaluEval QA rows are JSONL (one object a line), not CSV"], path.name)
    _check_limit(limit, path.name)
    if not 0.0 <= unanswerable_share <= 1.0:
        raise SuiteError([f"unanswerable_share must be between 0 and 1, got {unanswerable_share}"], path.name)
    rows: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    seen: set[str] = set()
    try:
        for n, rec in _halueval_rows(path):
            if isinstance(rec, str):
                errors.append(f"line {n}: {rec}")
                continue
            question, knowledge = rec["question"].strip(), rec["knowledge"].strip()
            case_id = "h-" + hashlib.sha256(f"{question}\n{knowledge}".encode()).hexdigest()[:12]
            if case_id in seen:
                continue
            seen.add(case_id)
            row = {
                "id": case_id,
                "question": question,
                "reference_answer": rec["right_answer"],
                "reference_contexts": [knowledge],
                "tags": ["halueval"],
            }
            rows.append((f"line {n}", row))
            if limit is not None and len(rows) >= limit:
                break
    except UnicodeDecodeError as e:
        raise SuiteError([f"the file is not UTF-8 text ({e.reason} at byte {e.start})"], path.name) from e
    if errors:
        raise SuiteError(errors, path.name)
    if not rows:
        raise SuiteError(["the file has no rows"], path.name)
    _too_many(len(rows), path.name)
    ranked = sorted(rows, key=lambda r: r[1]["id"])  # ids are hashes: a stable, unbiased pick
    for _, row in ranked[: round(unanswerable_share * len(rows))]:
        row.update(reference_answer=None, reference_contexts=[], answerable=False, tags=["halueval", "unanswerable"])
    return _suite(name, validate(rows, False, MAX_ROWS, path.name), path.name)
