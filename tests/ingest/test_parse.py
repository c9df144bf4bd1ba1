"""Parse stage and the unstructured parser: every supported format, every rejection code, spans that add up."""

from __future__ import annotations

import json
import random
import shutil
import zipfile
from pathlib import Path

import pytest

from app.adapters.unstructured_parser import PRECHECK_HEAD_BYTES, SUPPORTED_EXTENSIONS, UnstructuredParser, precheck
from app.core.domain import Element, ParsedDocument
from app.core.errors import RejectedFileError
from ingest.parse import ParseResult, ParseStage

DATA = (Path(__file__).resolve().parents[2] / "../shared/data").resolve()
DOCS = DATA / "documents"


def doc_path(*parts: str) -> Path:
    path = DOCS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"development data not available: {path}")
    return path


def assert_spans(doc: ParsedDocument) -> None:
    """Every element's span points at its own text in `doc.text`, and the spans tile the join exactly."""
    text = doc.text
    pos = 0
    for e in doc.elements:
        assert e.text and e.text == e.text.strip()
        assert (e.start, e.end) == (pos, pos + len(e.text))
        assert text[e.start : e.end] == e.text
        pos = e.end + 2
    assert pos - 2 == len(text)


def rejected(parser: UnstructuredParser, path: Path, filename: str | None = None) -> RejectedFileError:
    with pytest.raises(RejectedFileError) as info:
        parser.parse(str(path), filename or path.name)
    assert info.value.permanent
    return info.value


@pytest.fixture(scope="module")
def parser() -> UnstructuredParser:
    p = UnstructuredParser()
    p.warm_up()
    return p


class FakeParser:
    """Returns scripted documents; records what it was asked to parse."""

    def __init__(self, documents: list[ParsedDocument]) -> None:
        self.documents = documents
        self.calls: list[tuple[str, str]] = []

    def parse(self, path: str, filename: str) -> list[ParsedDocument]:
        self.calls.append((path, filename))
        return self.documents


def _doc(text: str) -> ParsedDocument:
    return ParsedDocument("a.txt", "a", (Element(text, end=len(text)),) if text else (), "txt")


class TestParseStage:
    def test_construction(self) -> None:
        stage = ParseStage(FakeParser([]), max_file_bytes=10)
        assert stage.max_file_bytes == 10

    @pytest.mark.parametrize("limit", [0, -1, 1.5, True, "10"])
    def test_invalid_limit(self, limit: object) -> None:
        with pytest.raises(ValueError, match="max_file_bytes"):
            ParseStage(FakeParser([]), max_file_bytes=limit)  # type: ignore[arg-type]

    def test_invalid_parser(self) -> None:
        with pytest.raises(ValueError, match="Parser port"):
            ParseStage(object(), max_file_bytes=10)  # type: ignore[arg-type]

    def test_delegates_and_times(self, tmp_path: Path) -> None:
        f = tmp_path / "a.txt"
        f.write_text("hello")
        fake = FakeParser([_doc("hello")])
        result = ParseStage(fake, max_file_bytes=100).run(str(f), "a.txt")
        assert isinstance(result, ParseResult)
        assert result.documents[0].text == "hello" and result.elapsed_ms >= 0
        assert fake.calls == [(str(f), "a.txt")]

    def test_too_large(self, tmp_path: Path) -> None:
        f = tmp_path / "big.txt"
        f.write_bytes(b"x" * 2048)
        fake = FakeParser([_doc("x")])
        with pytest.raises(RejectedFileError) as info:
            ParseStage(fake, max_file_bytes=1024).run(str(f), "big.txt")
        assert (
            info.value.code == "too_large" and "2048 bytes" in info.value.reason and "1024 bytes" in info.value.reason
        )
        assert fake.calls == []  # rejected before parsing
        assert ParseStage(fake, max_file_bytes=1024).run(str(f), "big.txt", max_file_bytes=4096).documents

    def test_no_text(self, tmp_path: Path) -> None:
        f = tmp_path / "a.txt"
        f.write_text("x")
        with pytest.raises(RejectedFileError) as info:
            ParseStage(FakeParser([_doc("")]), max_file_bytes=100).run(str(f), "a.txt")
        assert info.value.code == "no_text"

    def test_with_real_parser(self, tmp_path: Path) -> None:
        f = tmp_path / "corpus.jsonl"
        f.write_text(json.dumps({"_id": "1", "title": "T", "text": "Body text."}) + "\n")
        result = ParseStage(UnstructuredParser(), max_file_bytes=1 << 20).run(str(f), "corpus.jsonl")
        assert [d.external_id for d in result.documents] == ["1"]


class TestPrecheck:
    def test_supported(self) -> None:
        assert {".pdf", ".docx", ".txt", ".jsonl", ".eml"} <= SUPPORTED_EXTENSIONS
        precheck("a.pdf", b"%PDF-1.7\n...", 100)
        precheck("a.docx", b"PK\x03\x04rest", 100)
        precheck("a.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 100)  # maybe encrypted: the full parse decides
        precheck("a.TXT", "héllo wörld".encode(), 100)
        precheck("a.txt", "héllo".encode()[:2], 100)  # a head may end inside a character

    @pytest.mark.parametrize(
        ("filename", "head", "size", "code"),
        [
            ("a.xsl", b"<xsl/>", 6, "unsupported_type"),
            ("README", b"text", 4, "unsupported_type"),
            ("a.txt", b"", 0, "empty"),
            ("a.md", b"  \n\t ", 5, "empty"),
            ("a.pdf", b"just text\n", 10, "type_mismatch"),
            ("a.docx", b"just text\n", 10, "type_mismatch"),
            ("a.pptx", b"%PDF-1.4", 10, "type_mismatch"),
            ("a.txt", b"\x89PNG\r\n\x1a\n\x00\x00", 10, "type_mismatch"),
            ("a.csv", random.Random(1).randbytes(512), 512, "encoding"),
        ],
    )
    def test_rejects(self, filename: str, head: bytes, size: int, code: str) -> None:
        with pytest.raises(RejectedFileError) as info:
            precheck(filename, head, size)
        assert info.value.code == code
        if code == "unsupported_type":
            assert ".pdf" in info.value.reason and ".docx" in info.value.reason

    def test_head_size_is_enough_for_bigger_files(self) -> None:
        precheck("a.txt", b"  " * PRECHECK_HEAD_BYTES, 10 * PRECHECK_HEAD_BYTES)  # only whitespace so far: unknown


class TestBeirJsonl:
    LINES = [
        {"_id": "d1", "title": "Aspirin", "text": "Aspirin reduces fever."},
        {"_id": 2, "title": "", "text": "Integer ids become strings."},
        {"_id": "d3", "title": "Only a title", "text": ""},
    ]

    def write(self, tmp_path: Path, lines: list[str]) -> Path:
        f = tmp_path / "corpus.jsonl"
        f.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return f

    def test_one_document_per_line(self, tmp_path: Path) -> None:
        f = self.write(tmp_path, [json.dumps(x) for x in self.LINES[:2]] + ["", json.dumps(self.LINES[2])])
        docs = UnstructuredParser().parse(str(f), "corpus.jsonl")
        assert [d.external_id for d in docs] == ["d1", "2", "d3"]
        assert [d.title for d in docs] == ["Aspirin", "", "Only a title"]
        assert docs[0].text == "Aspirin reduces fever." and docs[2].text == "Only a title"
        assert docs[0].file_type == "jsonl" and docs[0].metadata["language"] == "en"
        for d in docs:
            assert_spans(d)

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            ('{"_id": "x", "text": "unterminated', "line 2 is not valid JSON"),
            ('{"title": "no id", "text": "t"}', "line 2 has no '_id'"),
            ('{"_id": "x", "title": "no text"}', "line 2 has no 'text'"),
            ('["not", "an", "object"]', "line 2 is not a JSON object"),
            ('{"_id": "d1", "text": "again"}', "repeats line 1"),
        ],
    )
    def test_bad_line(self, tmp_path: Path, bad: str, message: str) -> None:
        f = self.write(tmp_path, [json.dumps(self.LINES[0]), bad])
        error = rejected(UnstructuredParser(), f)
        assert error.code == "corrupt" and message in error.reason


@pytest.mark.data
@pytest.mark.slow
class TestUnstructuredParser:
    def test_invalid_construction(self) -> None:
        with pytest.raises(ValueError, match="ISO 639-1"):
            UnstructuredParser(language_fallback="english")

    def test_txt(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "fake-text.txt")), "fake-text.txt")
        assert doc.external_id == "fake-text.txt" and doc.file_type == "txt" and doc.metadata["file_type"] == "txt"
        assert "This is a test document to use for unit tests." in doc.text
        item = next(e for e in doc.elements if e.text == "Dogs are the best")
        assert item.kind == "listitem" and item.section_path == ("Important points:",)
        assert_spans(doc)

    def test_md_sections(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "README.md")), "README.md")
        assert doc.title == "Example Docs" and doc.elements[0].kind == "title"
        para = next(e for e in doc.elements if e.text.startswith("You can parse this document"))
        assert para.section_path == ("Example Docs", "XBRL 10-K")
        assert_spans(doc)

    def test_html_nested_sections(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "fake-html.html")), "fake-html.html")
        para = next(e for e in doc.elements if e.text.startswith("My first paragraph"))
        assert para.section_path == ("My First Heading", "My Second Heading")
        assert doc.elements[-1].section_path[-1] == "A Third Heading"
        assert_spans(doc)

    def test_docx_headings_and_properties(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "category-level.docx")), "category-level.docx")
        para = next(e for e in doc.elements if e.text.startswith("This is my substitute for pistol"))
        assert para.section_path == ("A Heading 1", "A Heading 2")
        last = doc.elements[-1]
        assert last.section_path == ("Another Heading 1",)  # a new level-1 heading closes both
        assert doc.metadata["created_at"].startswith("2023-09-22T18:38:00")
        assert_spans(doc)

    def test_pptx_slides_are_pages(self, parser: UnstructuredParser) -> None:
        path = doc_path("mixed-formats", "fake-power-point-many-pages.pptx")
        [doc] = parser.parse(str(path), path.name)
        assert [(e.page, e.section_path) for e in doc.elements] == [(1, ("Page 1",)), (2, ("Page 2",))]
        [deck] = parser.parse(str(doc_path("mixed-formats", "fake-power-point.pptx")), "fake-power-point.pptx")
        assert deck.title == "Adding a Bullet Slide" and {e.page for e in deck.elements} == {1}
        assert_spans(deck)

    def test_xlsx_tables_keep_rows(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "stanley-cups.xlsx")), "stanley-cups.xlsx")
        tables = [e for e in doc.elements if e.kind == "table"]
        assert [t.page for t in tables] == [1, 2]
        assert "Team | Location | Stanley Cups\nBlues | STL | 1" in tables[0].text
        assert tables[1].section_path == ("Stanley Cups Since 67",)
        assert_spans(doc)

    def test_csv(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "stanley-cups.csv")), "stanley-cups.csv")
        assert [e.kind for e in doc.elements] == ["table"]
        assert "Maple Leafs | TOR | 13" in doc.text.splitlines() and "Unnamed" not in doc.text

    def test_eml_headers(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "eml", "fake-email.eml")), "fake-email.eml")
        assert doc.title == "Test Email" and doc.metadata["subject"] == "Test Email"
        assert doc.metadata["from"].endswith("<mrobinson@unstructured.io>") and "to" in doc.metadata
        assert doc.metadata["created_at"] == "2022-12-16T17:04:16-05:00"
        assert "Roses are red" in doc.text
        assert_spans(doc)

    def test_pdf_pages(self, parser: UnstructuredParser) -> None:
        path = doc_path("mixed-formats", "pdf", "layout-parser-paper-fast.pdf")
        [doc] = parser.parse(str(path), path.name)
        assert doc.file_type == "pdf" and doc.metadata["page_count"] == 2
        assert {e.page for e in doc.elements} == {1, 2}
        assert "LayoutParser: A Unified Toolkit" in doc.text  # the "ﬁ" ligature is spelled out
        assert doc.title.startswith("LayoutParser")
        intro = next(e for e in doc.elements if e.text.startswith("Deep Learning(DL)-based approaches"))
        assert intro.page == 1 and intro.section_path == ("Introduction",)
        assert_spans(doc)

    def test_zh_markdown(self, parser: UnstructuredParser) -> None:
        path = doc_path("zh-samples", "大模型推理优化策略.md")
        [doc] = parser.parse(str(path), path.name)
        assert doc.metadata["language"] == "zh" and doc.title == "大模型推理优化策略"
        assert "PagedAttention" in doc.text and doc.elements[1].section_path == ("大模型推理优化策略",)
        assert_spans(doc)

    def test_zh_docx(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("zh-samples", "ocr_test.docx")), "ocr_test.docx")
        assert doc.metadata["language"] == "zh" and doc.metadata["author"] == "xiechuangjian"
        assert [e.kind for e in doc.elements] == ["uncategorizedtext", "table"]
        assert doc.elements[1].text == "我是表格1 | 我是表格2\n我是表格3 | 我是表格4"
        assert_spans(doc)

    @pytest.mark.parametrize("name", ["fake-text-utf-16-be.txt", "fake-text-utf-16-le.txt", "fake-text-utf-32.txt"])
    def test_wide_encodings(self, parser: UnstructuredParser, name: str) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", name)), name)
        assert doc.elements[0].text == "This is a test document to use for unit tests."
        assert "\x00" not in doc.text

    def test_cp1252_html(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "fake-html-cp1252.html")), "fake-html-cp1252.html")
        assert "köstlich" in doc.text and "15,50 €" in doc.text and "Kvinnan åt" in doc.text

    def test_ragged_csv_falls_back_to_text(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "single-column.csv")), "single-column.csv")
        assert "Ut enim, ad minim, veniam" in doc.text and doc.file_type == "csv"

    def test_pdf_with_broken_colour_space(self, parser: UnstructuredParser) -> None:
        [doc] = parser.parse(str(doc_path("mixed-formats", "pdf", "pdf-bad-color-space.pdf")), "bad-colour.pdf")
        assert "Intergovernmental Panel" in doc.text

    def test_malformed_pptx_still_parses(self, parser: UnstructuredParser) -> None:
        # Despite its name this deck only has a placeholder python-pptx reads oddly; unstructured parses it.
        path = doc_path("mixed-formats", "fake-power-point-malformed.pptx")
        [doc] = parser.parse(str(path), path.name)
        assert [e.text for e in doc.elements] == ["Problem Date Placeholder", "Test Slide"]

    @pytest.mark.parametrize(
        ("parts", "code"),
        [
            (("mixed-formats", "unsupported", "factbook.xsl"), "unsupported_type"),
            (("mixed-formats", "empty.txt"), "empty"),
            (("mixed-formats", "fake-text-all-whitespace.txt"), "empty"),
            (("mixed-formats", "pdf", "password.pdf"), "encrypted"),
            (("mixed-formats", "password_protected.xlsx"), "encrypted"),
            (("mixed-formats", "eml", "fake-encrypted.eml"), "encrypted"),
        ],
    )
    def test_rejects_data_file(self, parser: UnstructuredParser, parts: tuple[str, ...], code: str) -> None:
        assert rejected(parser, doc_path(*parts)).code == code

    def test_corrupt_and_mismatched_office_files(self, parser: UnstructuredParser, tmp_path: Path) -> None:
        deck = doc_path("mixed-formats", "fake-power-point.pptx").read_bytes()
        truncated = tmp_path / "truncated.pptx"
        truncated.write_bytes(deck[: len(deck) // 2])
        error = rejected(parser, truncated)
        assert error.code == "corrupt" and "ZIP" in error.reason and isinstance(error.__cause__, zipfile.BadZipFile)

        docx_as_pptx = tmp_path / "slides.pptx"
        shutil.copy(doc_path("mixed-formats", "fake.docx"), docx_as_pptx)
        error = rejected(parser, docx_as_pptx)
        assert error.code == "type_mismatch" and "Word document" in error.reason

        bad_xml = tmp_path / "bad.docx"
        with zipfile.ZipFile(bad_xml, "w") as zf:
            zf.writestr("[Content_Types].xml", "<Types/>")
            zf.writestr("word/document.xml", "<not-closed")
        error = rejected(parser, bad_xml)
        assert error.code == "corrupt" and "DOCX" in error.reason and error.__cause__ is not None

    def test_binary_text_file(self, parser: UnstructuredParser, tmp_path: Path) -> None:
        noise = tmp_path / "noise.txt"
        noise.write_bytes(random.Random(0).randbytes(20000))
        assert rejected(parser, noise).code == "encoding"

    def test_text_named_pdf(self, parser: UnstructuredParser, tmp_path: Path) -> None:
        fake = tmp_path / "report.pdf"
        fake.write_text("This is not a PDF at all.\n")
        error = rejected(parser, fake)
        assert error.code == "type_mismatch" and "it is text" in error.reason

    def test_pdf_without_text_layer(self, parser: UnstructuredParser, tmp_path: Path) -> None:
        import pikepdf

        scanned = tmp_path / "scan.pdf"
        with pikepdf.new() as pdf:
            pdf.add_blank_page()
            pdf.save(scanned)
        error = rejected(parser, scanned)
        assert error.code == "no_text" and "no text layer" in error.reason
