"""Reading evaluation suites: JSONL (one object a line) or CSV (a header row), with line numbers for error messages."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def suite_records(path: Path, header_error: Callable[[set[str]], str | None]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed row or an error string) for every non-blank record. For CSV, `header_error(columns)`
    returns why the header is unusable (reported as line 1, nothing else read) or None."""
    with open(path, encoding="utf-8", newline="") as f:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(f)
            problem = header_error(set(reader.fieldnames or ()))
            if problem:
                yield 1, problem
                return
            start = 2
            for row in reader:
                yield start, row
                start = reader.line_num + 1
            return
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as e:
                    yield n, f"not valid JSON ({e.msg})"
