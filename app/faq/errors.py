"""Errors of the FAQ library."""

from __future__ import annotations

from typing import Any

from app.core.errors import InvalidInputError


class FaqImportError(InvalidInputError):
    """An import file with invalid rows; nothing was imported.

    `errors` lists every problem found: `{"row": n, "field": name | None, "error": why}`, `row` counted as a
    spreadsheet does (a CSV header is row 1) or, for JSONL, as the line number."""

    def __init__(self, errors: list[dict[str, Any]], total_rows: int) -> None:
        first = errors[0] if errors else {"row": 0, "error": "no rows"}
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"import refused, nothing imported: row {first['row']}: {first['error']}{more}", "file")
        self.errors = errors
        self.total_rows = total_rows
