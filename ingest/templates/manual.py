"""The `manual` (alias `book`) template: chunks that follow the heading tree, each indexed with its section path."""

from __future__ import annotations

import re
from dataclasses import replace

from app.core.domain import Element, ParsedDocument
from ingest.templates.base import ChunkDraft, SizedTemplate, general_split

_MARKDOWN = re.compile(r"^(#{1,6})\s+(\S.*)$")
_ZH_PART = re.compile(r"^第[0-9一二三四五六七八九十百千零〇两]+([编篇部章节])")
_EN_PART = re.compile(r"^(part|chapter)\s+(\d+|[ivxlcdm]+|[a-z]+)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"^(\d{1,3}(?:\.\d{1,3})*)\.?(?:\s+|(?=[^\W\d_]))(\S.*)$")
_LETTERED = re.compile(r"^[A-Z][.)]\s+[A-Z][A-Z0-9 ,&'/-]*$")
_ZH_LEVEL = {"编": 1, "篇": 1, "部": 1, "章": 2, "节": 3}
_SENTENCE_MARKS = set("，。；;!?！？")
_MAX_HEADING = 60


class HeadingDetector:
    """Recognises headings written in the text: ``## Setup``, ``3 Installation``, ``3.2 Network``, ``第一章 总则``,
    ``Chapter 2``, ``A. PURPOSE``. Numbered headings must continue the numbering of the previous one (``3.2``
    after ``3.1`` or ``3``; ``4`` after ``3.2``), which keeps numbered list items from becoming sections."""

    def __init__(self) -> None:
        self.last: tuple[int, ...] | None = None

    def level(self, text: str) -> int | None:
        """The heading level of a line (1 = outermost), or None when it is not a heading."""
        text = text.strip()
        if "\n" in text or not text or len(text) > _MAX_HEADING + 10:
            return None
        if m := _MARKDOWN.match(text):
            return len(m.group(1))
        if _SENTENCE_MARKS & set(text) or text[-1] in ".:：,":
            return None
        if m := _ZH_PART.match(text):
            return _ZH_LEVEL[m.group(1)]
        if m := _EN_PART.match(text):
            return 1 if m.group(1).lower() == "part" else 2
        if _LETTERED.match(text):
            return 4
        m = _NUMBERED.match(text)
        if m is None or not m.group(2)[0].isalpha() or len(text) > _MAX_HEADING:
            return None
        number = tuple(int(n) for n in m.group(1).split("."))
        if not self._continues(number):
            return None
        self.last = number
        return len(number) + 1

    def _continues(self, n: tuple[int, ...]) -> bool:
        last = self.last
        if last is None:
            return True
        k = len(n) - 1
        if last[:k] != n[:k]:
            return False
        if len(last) == k:  # the first child of the last heading
            return n[-1] <= 2
        return last[k] < n[k] <= last[k] + 2


def heading_label(text: str) -> str:
    """How a heading reads in a section path: markdown hashes dropped, whitespace collapsed."""
    text = " ".join(text.split())
    m = _MARKDOWN.match(text)
    return m.group(2) if m else text


def looks_like_heading(text: str) -> bool:
    """Whether a parser "title" reads like a heading rather than a sentence the classifier took for one."""
    text = text.strip()
    if not 0 < len(text) <= 100 or "\n" in text:
        return False
    return not _SENTENCE_MARKS & set(text) and text[-1] not in ".。!?！？,，"


def sectioned(doc: ParsedDocument) -> tuple[list[Element], list[str]]:
    """The elements with the section paths the template uses, and the headings they follow.

    The parser's paths are kept when it found at least two distinct titles and most of them read like headings.
    Otherwise headings written in the text are detected: nested under the parser's path when its titles are sound
    (usually just the document title), from scratch when they are sentences mistaken for titles (plain text).
    """
    titles = [e for e in doc.elements if e.kind == "title"]
    good = [e.text for e in titles if looks_like_heading(e.text)]
    if len(set(good)) >= 2 and len(good) >= 0.6 * len(titles):
        return list(doc.elements), good
    trust_parser = len(good) == len(titles)
    detector, base = HeadingDetector(), None
    stack: list[tuple[int, str]] = []
    out, headings = [], list(good) if trust_parser else []
    for el in doc.elements:
        path = el.section_path if trust_parser else ()
        if path != base:
            base, stack = path, []
        level = None if trust_parser and el.kind == "title" else detector.level(el.text)
        if level is not None:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading_label(el.text)))
            headings.append(el.text)
        out.append(replace(el, section_path=base + tuple(label for _, label in stack)))
    return out, headings


def path_prefix(title: str, section_path: tuple[str, ...]) -> str:
    """``Title > Section > Subsection`` without repeating a first section that is the title itself."""
    parts = [title] if title else []
    parts += [p for i, p in enumerate(section_path) if not (i == 0 and p == title)]
    return " > ".join(parts)


class ManualTemplate(SizedTemplate):
    """Manuals and books: every chunk stays within one section of the heading tree (long sections are packed
    sentence by sentence as in `general`), its index text starts with ``Title > Section > Subsection`` and
    ``fields["section"]`` holds the joined path.

    Usage::

        drafts = ManualTemplate(chunk_size=800, overlap=120).split(parsed_doc)
        drafts[0].fields["section"]  # "Installation > Network"
    """

    name = "manual"

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        elements, _ = sectioned(doc)
        drafts = general_split(doc.text, elements, self.chunk_size, self.overlap)
        return [
            replace(
                d,
                index_text=f"{path_prefix(doc.title, d.section_path)}\n{d.text}",
                fields={**d.fields, "section": " > ".join(d.section_path)},
            )
            for d in drafts
        ]
