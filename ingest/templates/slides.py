"""The `slides` template: one chunk per slide, indexed with the slide's title."""

from __future__ import annotations

from app.core.domain import Element, ParsedDocument
from ingest.templates.base import ChunkDraft, SizedTemplate, decorate, general_split


def slides_of(doc: ParsedDocument) -> list[tuple[int, list[Element]]]:
    """The elements grouped by slide (page), in order; elements without a page number continue the slide before
    them (or form slide 1)."""
    slides: list[tuple[int, list[Element]]] = []
    for el in doc.elements:
        number = el.page if el.page is not None else (slides[-1][0] if slides else 1)
        if slides and slides[-1][0] == number:
            slides[-1][1].append(el)
        else:
            slides.append((number, [el]))
    return slides


def slide_title(elements: list[Element]) -> str:
    """The slide's first title, else the first line of its first element (at most 100 characters)."""
    title = next((e.text for e in elements if e.kind == "title"), None) or elements[0].text.split("\n")[0]
    return " ".join(title.split())[:100]


class SlidesTemplate(SizedTemplate):
    """Presentations: a chunk per slide holding all of the slide's elements (an exact span of the document),
    indexed with the slide title in front, ``fields={"slide": n, "slide_title": ...}``. An over-long slide is packed
    as in `general`; each piece keeps the slide's fields.

    Usage::

        drafts = SlidesTemplate().split(parsed_pptx)
        [(d.fields["slide"], d.fields["slide_title"]) for d in drafts]
    """

    name = "slides"

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        text = doc.text
        drafts: list[ChunkDraft] = []
        for number, elements in slides_of(doc):
            title = slide_title(elements)
            path = (title,) if title else ()
            start, end = elements[0].start, elements[-1].end
            if end - start <= self.chunk_size:
                chunks = [ChunkDraft(text[start:end], start, end, elements[0].page, path)]
            else:  # one section for the whole slide, so that general packing keeps it apart from the others
                pieces = [Element(e.text, e.kind, e.page, path, e.start, e.end) for e in elements]
                chunks = general_split(text, pieces, self.chunk_size, self.overlap)
            drafts += decorate(chunks, title, slide=number, slide_title=title)
        return drafts
