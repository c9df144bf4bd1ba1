from __future__ import annotations

import pytest

from app.core.domain import Element, ParsedDocument
from app.core.errors import InvalidInputError
from ingest.templates import GeneralTemplate, get_template


def doc_of(*parts: tuple[str, tuple[str, ...], int]) -> ParsedDocument:
    els, pos = [], 0
    for text, section, page in parts:
        els.append(Element(text, "text", page, section, pos, pos + len(text)))
        pos += len(text) + 2
    return ParsedDocument("d.txt", "D", tuple(els), "txt")


class TestGeneralTemplate:
    def test_construction_validates(self) -> None:
        with pytest.raises(ValueError):
            GeneralTemplate(chunk_size=10)
        with pytest.raises(ValueError):
            GeneralTemplate(chunk_size=200, overlap=150)

    def test_unknown_template_lists_valid_ones(self) -> None:
        with pytest.raises(InvalidInputError, match="general"):
            get_template("nope")

    def test_chunks_are_exact_spans_within_size_on_sentence_boundaries(self) -> None:
        body = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(60))
        doc = doc_of((body, ("Intro",), 1))
        chunks = GeneralTemplate(chunk_size=300, overlap=60).split(doc)
        assert len(chunks) > 5
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
            assert len(c.text) <= 300
            assert c.text.endswith(".") and c.text[0].isupper()
            assert c.section_path == ("Intro",) and c.page == 1
        # Overlap: each chunk starts before the previous one ends; coverage is complete.
        for a, b in zip(chunks, chunks[1:], strict=False):
            assert b.start <= a.end and b.start > a.start
        assert chunks[0].start == 0 and chunks[-1].end == len(body)

    def test_chinese_without_spaces_splits_on_cjk_punctuation(self) -> None:
        zh = "第一条 为了规范合同行为，保护当事人的合法权益，制定本法。" * 30
        doc = doc_of((zh, ("总则",), 2))
        chunks = GeneralTemplate(chunk_size=200, overlap=40).split(doc)
        assert len(chunks) > 3
        for c in chunks:
            assert len(c.text) <= 200 and c.text.endswith("。") and doc.text[c.start : c.end] == c.text

    def test_overlong_sentence_without_punctuation_is_cut(self) -> None:
        doc = doc_of(("字" * 1000, (), None))
        chunks = GeneralTemplate(chunk_size=300, overlap=0).split(doc)
        assert [len(c.text) for c in chunks] == [300, 300, 300, 100]

    def test_chunks_do_not_cross_sections(self) -> None:
        doc = doc_of(("Alpha one. Alpha two.", ("A",), 1), ("Beta one. Beta two.", ("B",), 2))
        chunks = GeneralTemplate(chunk_size=500, overlap=0).split(doc)
        assert [(c.section_path, c.page) for c in chunks] == [(("A",), 1), (("B",), 2)]
