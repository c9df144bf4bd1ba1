"""The `qa` template: one question–answer pair per chunk, plus a question-only index entry for each pair."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.core.domain import Element, ParsedDocument
from ingest.templates.base import (
    ChunkDraft,
    Line,
    check_sizes,
    general_split,
    lines_of,
    piece,
    reject_unknown,
    sentence_spans,
    split_cells,
)
from ingest.templates.manual import looks_like_heading

# Column names, in order of preference; names longer than three letters (or CJK) also match as part of a name.
QUESTION_NAMES: tuple[str, ...] = ("question", "questions", "q", "问题", "问", "提问", "query", "title", "标题")
QUESTION_NAMES += ("subject", "faq")
ANSWER_NAMES: tuple[str, ...] = ("answer", "answers", "a", "答案", "回答", "答", "解答", "reply", "response")
ANSWER_NAMES += ("body", "detail", "content")
_Q = re.compile(r"^(?:Q\d*|Question|问题?)\s*[:：]\s*", re.IGNORECASE)
_A = re.compile(r"^(?:A\d*|Answer|答案?|回答)\s*[:：]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Pair:
    """A question and its answer, and the document span they came from."""

    question: str
    answer: str
    start: int
    end: int
    page: int | None
    section_path: tuple[str, ...]
    row: int | None = None


def find_column(header: list[str], names: tuple[str, ...], wanted: str | None = None) -> int | None:
    """The index of the column named `wanted`, or else of the first of `names` (exact, then contained)."""
    cells = [c.strip().lower() for c in header]
    candidates = (wanted.strip().lower(),) if wanted else names
    for name in candidates:
        if name in cells:
            return cells.index(name)
    if not wanted:
        for name in (n for n in candidates if len(n) > 3 or not n.isascii()):
            for i, c in enumerate(cells):
                if name in c:
                    return i
    return None


def table_pairs(
    el: Element, question_column: str | None = None, answer_column: str | None = None
) -> tuple[list[Pair], list[tuple[int, int]]]:
    """The pairs of a table element whose header (one of its first three lines) has question and answer columns,
    and the spans of its rows that lack a question or an answer."""
    lines = el.text.split("\n")
    for h in range(min(3, len(lines))):
        header = split_cells(lines[h])
        qi, ai = find_column(header, QUESTION_NAMES, question_column), find_column(header, ANSWER_NAMES, answer_column)
        if qi is not None and ai is not None and qi != ai:
            break
    else:
        return [], []
    pairs, partial, pos = [], [], el.start + sum(len(x) + 1 for x in lines[: h + 1])
    for n, line in enumerate(lines[h + 1 :], start=1):
        cells = _fit(split_cells(line), len(header), ai)
        question, answer = cells[qi], cells[ai]
        if question and answer:
            pairs.append(Pair(question, answer, pos, pos + len(line), el.page, el.section_path, n))
        elif line.strip():
            partial.append((pos, pos + len(line)))
        pos += len(line) + 1
    return pairs, partial


def _fit(cells: list[str], width: int, absorb: int) -> list[str]:
    """Row cells fitted to the header: extra separators are taken to be inside the (free-text) answer cell."""
    if len(cells) <= width:
        return cells + [""] * (width - len(cells))
    extra = len(cells) - width
    return cells[:absorb] + [" | ".join(cells[absorb : absorb + extra + 1])] + cells[absorb + extra + 1 :]


def text_pairs(lines: list[Line]) -> tuple[list[Pair], list[Line]]:
    """Pairs written as ``Q: … / A: …`` (``Question:/Answer:``, ``问：/答：``), and the lines outside any pair.

    A question runs to its ``A:`` line, an answer to the next ``Q:`` line or title."""
    pairs: list[Pair] = []
    rest: list[Line] = []
    q: list[Line] = []
    a: list[Line] = []

    def close() -> None:
        if q and a:
            question = " ".join([_Q.sub("", q[0].text), *(x.text for x in q[1:])]).strip()
            answer = " ".join([_A.sub("", a[0].text), *(x.text for x in a[1:])]).strip()
            pairs.append(Pair(question, answer, q[0].start, a[-1].end, q[0].page, q[0].section_path))
        else:
            rest.extend(q + a)
        q.clear()
        a.clear()

    for line in lines:
        if _Q.match(line.text):
            close()
            q.append(line)
        elif q and _A.match(line.text) and not a:
            a.append(line)
        elif a and line.kind == "title" and looks_like_heading(line.text):
            close()
            rest.append(line)
        elif q:
            (a or q).append(line)
        else:
            rest.append(line)
    close()
    return pairs, rest


class QATemplate:
    """FAQs and Q&A tables: one chunk per pair, shown as ``Q: …\\nA: …`` and stored with
    ``fields={"question", "answer"}``, plus a second entry per pair indexed by the question alone
    (``fields["variant"] = "question"``) so that a user's question matches a stored question. Pairs come from
    tables with a question-like and an answer-like column (`question_column`/`answer_column` name them), or from
    ``Q:``/``A:`` text. Everything else is packed as in `general`.

    Usage::

        drafts = QATemplate(question_column="title", answer_column="detail").split(parsed_csv)
    """

    name = "qa"

    def __init__(
        self,
        chunk_size: int = 800,
        overlap: int = 120,
        question_column: str | None = None,
        answer_column: str | None = None,
        **unknown: Any,
    ) -> None:
        check_sizes(chunk_size, overlap)
        reject_unknown(self.name, unknown, ["question_column", "answer_column"])
        for param, value in (("question_column", question_column), ("answer_column", answer_column)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{param} must be a non-empty column name, got {value!r}")
        if question_column and answer_column and question_column.strip().lower() == answer_column.strip().lower():
            raise ValueError("question_column and answer_column must name different columns")
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.question_column = question_column
        self.answer_column = answer_column

    def pairs(self, doc: ParsedDocument) -> tuple[list[Pair], list[Element]]:
        """The document's pairs, and what is left for general packing (as elements or line pieces)."""
        text = doc.text
        pairs: list[Pair] = []
        rest: list[Element] = []
        for el in (e for e in doc.elements if e.kind == "table"):
            found, partial = table_pairs(el, self.question_column, self.answer_column)
            pairs += found
            rest += [piece(text, s, e, el) for s, e in partial] if found else [el]
        found, left = text_pairs(lines_of(e for e in doc.elements if e.kind != "table"))
        pairs += found
        rest += [piece(text, ln.start, ln.end, ln) for ln in left]
        return sorted(pairs, key=lambda p: p.start), sorted(rest, key=lambda e: e.start)

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        text = doc.text
        pairs, rest = self.pairs(doc)
        if not pairs:
            return general_split(text, doc.elements, self.chunk_size, self.overlap)
        drafts = general_split(text, rest, self.chunk_size, self.overlap)
        for p in pairs:
            fields: dict[str, Any] = {"question": p.question, "answer": p.answer}
            if p.row is not None:
                fields["row"] = p.row
            for i, answer in enumerate(self._answer_parts(p)):
                shown = f"Q: {p.question}\nA: {answer}"
                drafts.append(ChunkDraft(shown, p.start, p.end, p.page, p.section_path, None, dict(fields)))
                if i == 0:
                    variant = {**fields, "variant": "question"}
                    drafts.append(ChunkDraft(shown, p.start, p.end, p.page, p.section_path, p.question, variant))
        return sorted(drafts, key=lambda d: d.start)

    def _answer_parts(self, p: Pair) -> list[str]:
        """The answer whole, or in sentence-packed parts when question plus answer exceed the chunk size."""
        room = max(self.chunk_size - len(p.question) - 7, self.chunk_size // 2)
        if len(p.answer) <= room:
            return [p.answer]
        spans = [(a, min(a + room, e)) for s, e in sentence_spans(p.answer) for a in range(s, e, room)]
        parts: list[str] = []
        start, end = spans[0]
        for s, e in spans[1:]:
            if e - start <= room:
                end = e
            else:
                parts.append(p.answer[start:end])
                start, end = s, e
        return [*parts, p.answer[start:end]]
