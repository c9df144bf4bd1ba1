"""The generic template: sentence-aware packing to a target size with overlap, on any language."""

from __future__ import annotations

from app.core.domain import ParsedDocument
from ingest.templates.base import ChunkDraft, sentence_spans


class GeneralTemplate:
    """Packs whole sentences into chunks of about `chunk_size` characters, repeating about `overlap` characters
    of trailing sentences at the start of the next chunk. A chunk never spans two sections; a sentence longer
    than `chunk_size` (e.g. Chinese without punctuation) is cut at the size limit.

    Usage::

        drafts = GeneralTemplate(chunk_size=800, overlap=120).split(parsed_doc)
    """

    name = "general"

    def __init__(self, chunk_size: int = 800, overlap: int = 120) -> None:
        if chunk_size < 50:
            raise ValueError("chunk_size must be >= 50 characters")
        if not 0 <= overlap < chunk_size // 2:
            raise ValueError("overlap must be >= 0 and less than half of chunk_size")
        self.chunk_size = chunk_size
        self.overlap = overlap

    def _units(self, doc: ParsedDocument) -> list[tuple[int, int, int | None, tuple[str, ...]]]:
        """Sentence spans with their page and section, long sentences cut to size."""
        units = []
        for el in doc.elements:
            for s, e in sentence_spans(el.text, el.start):
                while e - s > self.chunk_size:
                    cut = s + self.chunk_size
                    space = doc.text.rfind(" ", s + self.chunk_size // 2, cut)
                    cut = space if space > s else cut
                    units.append((s, cut, el.page, el.section_path))
                    s = cut
                    while s < e and doc.text[s].isspace():
                        s += 1
                if e > s:
                    units.append((s, e, el.page, el.section_path))
        return units

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        text = doc.text
        units = self._units(doc)
        drafts: list[ChunkDraft] = []
        i = 0
        while i < len(units):
            start, _, page, section = units[i]
            j = i
            while j + 1 < len(units) and units[j + 1][3] == section and units[j + 1][1] - start <= self.chunk_size:
                j += 1
            end = units[j][1]
            drafts.append(ChunkDraft(text[start:end], start, end, page, section))
            if j + 1 >= len(units):
                break
            # Step back over trailing sentences that fit in the overlap, but always advance.
            k = j + 1
            while k - 1 > i and units[k - 1][3] == units[j + 1][3] and end - units[k - 1][0] <= self.overlap:
                k -= 1
            i = k
        return drafts
