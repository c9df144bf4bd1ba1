"""Text helpers shared by ingest and answer: sentence spans that work for English and Chinese."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (followed by space/end), at CJK terminators (no space needed), or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|(?<=[。！？；])[”’」』）]*|\n+")


def sentence_spans(text: str, base: int = 0) -> list[tuple[int, int]]:
    """Split text into sentence spans (absolute offsets = base + local), whitespace trimmed, none empty."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        if end > pos:
            spans.append((pos, end))
            pos = end
    if pos < len(text):
        spans.append((pos, len(text)))
    out = []
    for s, e in spans:
        seg = text[s:e]
        ls = len(seg) - len(seg.lstrip())
        rs = len(seg.rstrip())
        if rs > ls:
            out.append((base + s + ls, base + s + rs))
    return out


_WORD = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff]", re.UNICODE)
STOPWORDS = frozenset(
    "a an the of to in on for and or is are was were be been being it its this that these those with by as at from"
    " what which who whom whose when where why how do does did can could should would will shall may might must"
    " i you he she we they me my your our their there here not no yes if then than so such about into over any all"
    " 的 了 是 在 和 与 或 吗 呢 什么 哪 怎么 如何 为什么".split()
)


def terms(text: str) -> set[str]:
    """Lower-cased content words (CJK characters one by one), stopwords removed."""
    return {t for t in (w.lower() for w in _WORD.findall(text)) if t not in STOPWORDS}
