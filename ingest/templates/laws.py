"""The `laws` template: one article per chunk, numbering kept, chapters and sections as context."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace

from app.core.domain import ParsedDocument
from ingest.templates.base import (
    ChunkDraft,
    Line,
    SizedTemplate,
    decorate,
    general_split,
    lines_of,
    piece,
)
from ingest.templates.manual import looks_like_heading

_N = "0-9一二三四五六七八九十百千零〇两"
_NOT_CITED = r"(?!\s*(?:\([0-9a-z]+\))*,?\s+(?:of|to|in)\b)"  # "Section 347(a) of the Code …" cites, it is no heading
# (kind, rank, pattern): rank 0 = chapter-level context, 1 = section-level context, 2 = an article-like unit.
_MARKERS = [
    ("zh_article", 2, re.compile(rf"^(第[{_N}]+条)")),
    ("zh_chapter", 0, re.compile(rf"^(第[{_N}]+[编章])")),
    ("zh_section", 1, re.compile(rf"^(第[{_N}]+节)")),
    ("en_chapter", 0, re.compile(r"^((?:CHAPTER|Chapter|PART|Part|TITLE|Title)\s+(?:\d+|[IVXLC]+))\b(?![,;])")),
    ("en_article", 2, re.compile(rf"^(?:ARTICLE|Article|Art\.)\s+(\d+[a-z]?|[IVXLC]+)\b{_NOT_CITED}")),
    ("en_section", 2, re.compile(rf"^(?:SECTION|Section|Sec\.)\s+(\d+(?:\.\d+)*[a-z]?)\b{_NOT_CITED}")),
    ("en_para", 2, re.compile(rf"^§+\s*(\d+[a-z]?(?:\.\d+)*){_NOT_CITED}")),
]
_LABEL = {"en_article": "Article {}", "en_section": "Section {}", "en_para": "§ {}"}
_CLAUSE = re.compile(rf"^(第[{_N}]+款)", re.MULTILINE)


def find_marker(text: str) -> tuple[str, int, str] | None:
    """The law marker a line starts with: (kind, rank, label such as "第十二条" or "Article 12"), or None."""
    for kind, rank, pattern in _MARKERS:
        if (m := pattern.match(text)) and (rank == 2 or len(text) <= 100):  # chapters are short heading lines
            return kind, rank, _LABEL.get(kind, "{}").format(m.group(1))
    return None


def unit_kind(lines: list[Line]) -> str | None:
    """Which article-like marker is the unit: the most frequent (EU: Articles within Sections; US: Sections
    within Articles); the other kinds then serve as section context."""
    counts = Counter(m[0] for line in lines if (m := find_marker(line.text)) and m[1] == 2)
    if not counts:
        return None
    order = ["zh_article", "en_article", "en_section", "en_para"]
    return max(counts, key=lambda k: (counts[k], -order.index(k)))


@dataclass
class _Segment:
    lines: list[Line]
    article: str | None
    context: dict[str, str] = field(default_factory=dict)


class LawsTemplate(SizedTemplate):
    """Laws and regulations: one chunk per article (``第十二条``, ``Article 12``, ``Section 4.1``, ``§ 5``) with
    its number kept; chapters (``第一章``, ``Chapter II``) and sections (``第一节``) are context. An over-long article
    is split at clause (line) and then sentence boundaries; every piece keeps the article number in
    ``fields["article"]`` and in its index text. Text outside articles is packed as in `general`.

    Usage::

        drafts = LawsTemplate(chunk_size=800, overlap=120).split(parsed_law)
        drafts[3].fields  # {"article": "第十二条", "chapter": "第二章 自然人", ...}
    """

    name = "laws"

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        text = doc.text
        lines = lines_of(doc.elements)
        unit = unit_kind(lines)
        if unit is None:
            return general_split(text, doc.elements, self.chunk_size, self.overlap)
        drafts: list[ChunkDraft] = []
        for seg in self._segments(lines, unit):
            path = tuple(v for v in (seg.context.get("chapter"), seg.context.get("section"), seg.article) if v)
            if seg.article is None:
                pieces = [piece(text, ln.start, ln.end, ln, path) for ln in seg.lines]
                drafts += decorate(general_split(text, pieces, self.chunk_size, self.overlap), **seg.context)
            else:
                fields = {"article": seg.article, "chapter": seg.context.get("chapter"), **seg.context}
                drafts += decorate(self._article(text, seg, path), " ".join(path), **fields)
        return drafts

    def _segments(self, lines: list[Line], unit: str) -> list[_Segment]:
        """Lines grouped into articles and the text between them; headings just before an article join it."""
        segments: list[_Segment] = []
        context: dict[str, str] = {}
        pending: list[Line] = []  # chapter/section heading lines waiting for their first article
        for line in lines:
            marker = find_marker(line.text)
            is_unit = marker is not None and marker[0] == unit
            if marker and not is_unit and marker[0] != "zh_article":
                key = "chapter" if marker[1] == 0 else "section"
                context = {"chapter": context["chapter"]} if key == "section" and "chapter" in context else {}
                context[key] = _heading(line.text, marker[2])
                pending.append(line)
            elif is_unit and marker:
                segments.append(_Segment([*pending, line], marker[2], dict(context)))
                pending = []
            elif pending and looks_like_heading(line.text) and len(line.text) <= 60:
                # A heading's name on its own line ("CHAPTER I" / "General provisions").
                key = "section" if "section" in context else "chapter"
                context[key] = f"{context[key]} {line.text}"
                pending.append(line)
            elif pending or not segments or segments[-1].article is None and segments[-1].context != context:
                segments.append(_Segment([*pending, line], None, dict(context)))
                pending = []
            else:
                segments[-1].lines.append(line)
        if pending:
            segments.append(_Segment(pending, None, dict(context)))
        return segments

    def _article(self, text: str, seg: _Segment, path: tuple[str, ...]) -> list[ChunkDraft]:
        """An article as one chunk, or packed clause by clause (lines) when it is too long."""
        first = seg.lines[0]
        start, end = first.start, seg.lines[-1].end
        if end - start <= self.chunk_size:
            return [ChunkDraft(text[start:end], start, end, first.page, path)]
        out: list[ChunkDraft] = []
        group: list[Line] = []
        for line in [*seg.lines, None]:
            if line is not None and (not group or line.end - group[0].start <= self.chunk_size):
                group.append(line)
                continue
            s, e = group[0].start, group[-1].end
            if e - s <= self.chunk_size:
                out.append(ChunkDraft(text[s:e], s, e, group[0].page, path))
            else:  # one clause longer than a chunk: by sentences
                out += general_split(text, [piece(text, s, e, group[0], path)], self.chunk_size, self.overlap)
            group = [line] if line is not None else []
        return [replace(d, fields={"clause": m.group(1)}) if (m := _CLAUSE.search(d.text)) else d for d in out]


def _heading(line: str, label: str) -> str:
    """A chapter or section as named: the whole heading line when it is short, else its number."""
    return " ".join(line.split()) if len(line) <= 60 else label
