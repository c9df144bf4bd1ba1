"""The `table` template: table rows grouped into chunks, the header repeated at the top of each, no row split."""

from __future__ import annotations

from typing import Any

from app.core.domain import Element, ParsedDocument
from ingest.templates.base import ChunkDraft, SizedTemplate, general_split, header_size

SHEET_TYPES = {"xlsx", "xls", "ods"}


class TableTemplate(SizedTemplate):
    """Spreadsheets and CSV files: the rows of each table element are grouped into chunks of up to `chunk_size`
    characters, each chunk's text starting with the header line(s); a row is never split (a row longer than
    `chunk_size` is a chunk of its own). ``fields`` hold ``rows`` (first and last data row, 1-based), ``table``
    (1-based, in document order) and ``sheet`` (spreadsheets) or ``page``. The first chunk of a table is an exact
    span of the document (header included); later ones span their rows, their text composed with the header.
    Other elements are packed as in `general`, never across a table.

    Usage::

        drafts = TableTemplate(chunk_size=800).split(parsed_xlsx)
        drafts[1].text.splitlines()[0]  # "Team | Location | Stanley Cups"
    """

    name = "table"

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        text = doc.text
        drafts: list[ChunkDraft] = []
        run: list[Element] = []  # non-table elements since the last table
        tables = 0
        for el in doc.elements:
            if el.kind != "table":
                run.append(el)
                continue
            # A sheet's or table's own title just above it opens its first chunk instead of being a chunk alone.
            titled = run and run[-1].kind == "title" and run[-1].section_path == el.section_path
            lead = run[-1].start if titled else None
            drafts += general_split(text, run[:-1] if lead is not None else run, self.chunk_size, self.overlap)
            run = []
            tables += 1
            where = "sheet" if doc.file_type.lower() in SHEET_TYPES else "page"
            place = {where: el.page} if el.page is not None else {}
            drafts += self._rows(text, el, el.start if lead is None else lead, {"table": tables, **place})
        return drafts + general_split(text, run, self.chunk_size, self.overlap)

    def _rows(self, text: str, el: Element, lead: int, fields: dict[str, Any]) -> list[ChunkDraft]:
        lines = el.text.split("\n")
        h = header_size(lines)
        header = "\n".join(lines[:h])
        offsets, pos = [], el.start
        for line in lines:
            offsets.append((pos, pos + len(line)))
            pos += len(line) + 1
        prefix = " > ".join(el.section_path)
        if h == len(lines):  # a header and no rows
            fields = {**fields, "rows": []}
            return [ChunkDraft(text[lead : el.end], lead, el.end, el.page, el.section_path, None, fields)]
        out: list[ChunkDraft] = []
        first = h
        size = el.start - lead + len(header) + 1 + len(lines[first])
        for i in range(h + 1, len(lines) + 1):
            if i < len(lines) and size + 1 + len(lines[i]) <= self.chunk_size:
                size += 1 + len(lines[i])
                continue
            start = lead if not out else offsets[first][0]
            end = offsets[i - 1][1]
            body = "\n".join(lines[first:i])
            shown = text[start:end] if not out else f"{header}\n{body}"
            index = f"{prefix}\n{shown}" if prefix and not shown.startswith(prefix) else None
            fields_ = {**fields, "rows": [first - h + 1, i - h]}
            out.append(ChunkDraft(shown, start, end, el.page, el.section_path, index, fields_))
            if i < len(lines):
                first, size = i, len(header) + 1 + len(lines[i])
        return out
