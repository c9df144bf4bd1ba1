"""Structured chunk templates: manual/book, laws, qa, table, paper, slides, email, and the `auto` choice."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pytest

from app.core.domain import Element, ParsedDocument
from app.core.errors import InvalidInputError
from ingest.templates import (
    TEMPLATES,
    AutoTemplate,
    EmailTemplate,
    GeneralTemplate,
    LawsTemplate,
    ManualTemplate,
    PaperTemplate,
    QATemplate,
    SlidesTemplate,
    TableTemplate,
    choose_template,
    get_template,
)
from ingest.templates.base import ChunkDraft
from tests.conftest import shared_data

Part = str | tuple[str, str] | tuple[str, str, int | None]


def make_doc(*parts: Part, file_type: str = "txt", title: str = "Doc", **metadata: Any) -> ParsedDocument:
    """A document as the parser builds it: `(text, kind, page)` parts; titles open sections (flat, as in text)."""
    elements, pos, section = [], 0, ()
    for part in parts:
        text, kind, page = (part, "narrativetext", None) if isinstance(part, str) else (*part, None)[:3]
        if kind == "title":
            section = (text,)
        elements.append(Element(text, kind, page, section, pos, pos + len(text)))
        pos += len(text) + 2
    return ParsedDocument(f"d.{file_type}", title, tuple(elements), file_type, metadata)


def assert_exact(doc: ParsedDocument, drafts: list[ChunkDraft]) -> None:
    text = doc.text
    for d in drafts:
        assert text[d.start : d.end] == d.text, d


def by(drafts: list[ChunkDraft], key: str) -> list[Any]:
    return [d.fields.get(key) for d in drafts]


class TestRegistry:
    NAMES = ["general", "manual", "book", "laws", "qa", "table", "paper", "slides", "email", "auto"]

    def test_every_template_is_registered_and_named(self) -> None:
        assert set(self.NAMES) <= set(TEMPLATES)
        for name in self.NAMES:
            template = get_template(name, chunk_size=400, overlap=40)
            assert template.name == ("manual" if name == "book" else name)
        assert type(get_template("book")) is ManualTemplate

    def test_unknown_template_lists_the_valid_ones(self) -> None:
        with pytest.raises(InvalidInputError) as e:
            get_template("legal")
        for name in self.NAMES:
            assert name in str(e.value)

    @pytest.mark.parametrize("name", [n for n in NAMES if n != "general"])
    @pytest.mark.parametrize(
        "params, message",
        [
            ({"chunk_size": 10}, "chunk_size"),
            ({"chunk_size": 200, "overlap": 150}, "overlap"),
            ({"overlap": -1}, "overlap"),
            ({"colour": "blue"}, "colour"),
        ],
    )
    def test_bad_parameters_are_value_errors(self, name: str, params: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            get_template(name, **params)

    def test_template_specific_parameters_are_checked(self) -> None:
        with pytest.raises(ValueError, match="keep, drop"):
            PaperTemplate(references="maybe")
        with pytest.raises(ValueError, match="question_column"):
            QATemplate(question_column=" ")
        with pytest.raises(ValueError, match="different"):
            QATemplate(question_column="Q", answer_column="q")
        with pytest.raises(ValueError, match="valid: chunk_size, overlap, references"):
            PaperTemplate(question_column="q")
        assert PaperTemplate(references="drop").references == "drop"


class TestManual:
    def test_chunks_follow_the_parser_heading_tree_with_the_path_indexed(self) -> None:
        body = " ".join(f"Step {i} of the network setup is described here." for i in range(30))
        els = [
            Element("Install", "title", 1, ("Install",), 0, 7),
            Element("Run the installer.", "narrativetext", 1, ("Install",), 9, 27),
            Element("Network", "title", 2, ("Install", "Network"), 29, 36),
            Element(body, "narrativetext", 2, ("Install", "Network"), 38, 38 + len(body)),
        ]
        doc = ParsedDocument("m.docx", "Admin Guide", tuple(els), "docx")
        drafts = ManualTemplate(chunk_size=300, overlap=50).split(doc)
        assert_exact(doc, drafts)
        assert drafts[0].text == "Install\n\nRun the installer." and drafts[0].section_path == ("Install",)
        assert drafts[0].index_text == "Admin Guide > Install\nInstall\n\nRun the installer."
        network = drafts[1:]
        assert len(network) >= 4
        for d in network:
            assert d.section_path == ("Install", "Network") and d.fields["section"] == "Install > Network"
            assert d.index_text == f"Admin Guide > Install > Network\n{d.text}" and len(d.text) <= 300
        assert network[-1].end == len(doc.text)

    def test_numbered_headings_in_plain_text_open_sections_but_list_items_do_not(self) -> None:
        doc = make_doc(
            "1 Introduction",
            "This guide covers setup.",
            "1.1 Scope",
            "Servers only.",
            "2 Installation",
            "2.5 GHz processor needed",  # a number, not the first subsection of 2
            "1. Download the package",
            "2. Run it",
            "3.2 Network",
            "Open port 80.",
        )
        drafts = ManualTemplate(chunk_size=400, overlap=0).split(doc)
        assert_exact(doc, drafts)
        assert [d.section_path for d in drafts] == [
            ("1 Introduction",),
            ("1 Introduction", "1.1 Scope"),
            ("2 Installation",),
        ]
        assert drafts[2].text.startswith("2 Installation\n\n2.5 GHz")
        assert "1. Download the package\n\n2. Run it\n\n3.2 Network" in drafts[2].text

    def test_chinese_and_markdown_headings_are_detected(self) -> None:
        doc = make_doc(
            "第一章 总则", "本手册说明安装方法。", "第一节 目的", "用于培训。", "第二章 安装", "运行安装程序。"
        )
        drafts = ManualTemplate(chunk_size=200, overlap=0).split(doc)
        assert [d.section_path for d in drafts] == [("第一章 总则",), ("第一章 总则", "第一节 目的"), ("第二章 安装",)]
        assert drafts[1].index_text == "Doc > 第一章 总则 > 第一节 目的\n第一节 目的\n\n用于培训。"
        doc = make_doc("## Setup", "Install it.", "### Linux", "Use apt.", "## Usage", "Run it.")
        drafts = ManualTemplate(chunk_size=200, overlap=0).split(doc)
        assert by(drafts, "section") == ["Setup", "Setup > Linux", "Usage"]

    def test_numbered_items_under_a_lone_document_title_become_its_sections(self) -> None:
        # What the parser makes of a markdown mind-map: one H1, then list items such as "7.1 显存优化".
        doc = make_doc(
            ("推理优化", "title"), ("7.1 显存优化", "listitem"), "分页注意力。", ("7.2 算子融合", "listitem"), "融合。"
        )
        doc = ParsedDocument(doc.external_id, "推理优化", doc.elements, "md")
        drafts = get_template("book", chunk_size=200, overlap=0).split(doc)
        assert [d.section_path for d in drafts] == [
            ("推理优化",),
            ("推理优化", "7.1 显存优化"),
            ("推理优化", "7.2 算子融合"),
        ]
        assert drafts[1].index_text == "推理优化 > 7.1 显存优化\n7.1 显存优化\n\n分页注意力。"

    def test_sentences_taken_for_titles_are_not_sections(self) -> None:
        doc = make_doc(("This is a sentence.", "title"), "Body one.", ("Another sentence here.", "title"), "Body two.")
        assert {d.section_path for d in ManualTemplate().split(doc)} == {()}


class TestLaws:
    ZH = [
        "中华人民共和国合同法",
        "第一章 总则",
        "第一条 为了保护合同当事人的合法权益，制定本法。",
        "第二条 本法所称合同是平等主体之间的协议。",
        "第二章 合同的订立",
        "第一节 一般规定",
        "第十二条 合同的内容由当事人约定。",
        "依照本法第二条的规定订立。",
    ]

    def test_chinese_articles_one_per_chunk_with_chapter_context(self) -> None:
        doc = make_doc(*self.ZH)
        drafts = LawsTemplate().split(doc)
        assert_exact(doc, drafts)
        articles = [d for d in drafts if d.fields.get("article")]
        assert by(articles, "article") == ["第一条", "第二条", "第十二条"]
        assert by(articles, "chapter") == ["第一章 总则", "第一章 总则", "第二章 合同的订立"]
        assert articles[2].fields["section"] == "第一节 一般规定"
        assert articles[0].text.startswith("第一章 总则\n\n第一条")  # the chapter heading opens its first article
        assert articles[1].text.startswith("第二条") and "第十二条" not in articles[1].text
        assert articles[2].text.endswith("依照本法第二条的规定订立。")  # a reference is no new article
        assert articles[2].index_text.startswith("第二章 合同的订立 第一节 一般规定 第十二条\n")
        assert articles[2].section_path == ("第二章 合同的订立", "第一节 一般规定", "第十二条")
        assert drafts[0].text == "中华人民共和国合同法" and "article" not in drafts[0].fields

    def test_a_long_article_is_split_at_clauses_keeping_its_number(self) -> None:
        clauses = [f"第{n}款 " + "当事人应当按照约定全面履行自己的义务。" * 6 for n in "一二三"]
        doc = make_doc("第五条 履行", *clauses, "第六条 终止。")
        drafts = LawsTemplate(chunk_size=200, overlap=20).split(doc)
        assert_exact(doc, drafts)
        fifth = [d for d in drafts if d.fields["article"] == "第五条"]
        assert len(fifth) >= 3 and all(len(d.text) <= 200 for d in fifth)
        assert all(d.index_text.startswith("第五条\n") for d in fifth)
        assert [d.fields.get("clause") for d in fifth if "clause" in d.fields] == ["第一款", "第二款", "第三款"]
        assert drafts[-1].fields["article"] == "第六条" and drafts[-1].text == "第六条 终止。"

    def test_english_articles_with_chapter_names(self) -> None:
        doc = make_doc(
            "CHAPTER I",
            "General provisions",
            "Article 1 Subject-matter. This Regulation lays down rules.",
            "Article 2 Material scope. This Regulation applies to processing, as set out in Article 1.",
            "CHAPTER II",
            "Principles",
            "Article 12 Transparent information. The controller shall inform the data subject.",
        )
        drafts = LawsTemplate().split(doc)
        assert by(drafts, "article") == ["Article 1", "Article 2", "Article 12"]
        assert by(drafts, "chapter") == ["CHAPTER I General provisions"] * 2 + ["CHAPTER II Principles"]
        assert drafts[2].text.startswith("CHAPTER II\n\nPrinciples\n\nArticle 12")

    @pytest.mark.parametrize(
        "lines, labels",
        [
            (
                ["Section 4.1 Scope.", "Section 4.2 Terms.", "Section 5 Fees."],
                ["Section 4.1", "Section 4.2", "Section 5"],
            ),
            (["§ 5 Geltungsbereich.", "§ 6 Begriffe.", "§6a Ausnahmen."], ["§ 5", "§ 6", "§ 6a"]),
        ],
    )
    def test_section_and_paragraph_numbering(self, lines: list[str], labels: list[str]) -> None:
        assert by(LawsTemplate().split(make_doc(*lines)), "article") == labels

    def test_the_most_frequent_marker_is_the_unit_and_the_other_is_context(self) -> None:
        doc = make_doc("Article I", "Section 1. Powers.", "Section 2. House.", "Article II", "Section 1. Executive.")
        drafts = LawsTemplate().split(doc)
        assert [(d.fields["section"], d.fields["article"]) for d in drafts] == [
            ("Article I", "Section 1"),
            ("Article I", "Section 2"),
            ("Article II", "Section 1"),
        ]

    def test_a_long_english_article_is_split_at_sentences(self) -> None:
        long = "Article 7 Conditions. " + " ".join(f"Condition {i} applies to consent." for i in range(40))
        drafts = LawsTemplate(chunk_size=200, overlap=0).split(make_doc(long))
        assert len(drafts) >= 5 and all(d.fields["article"] == "Article 7" for d in drafts)
        assert all(d.text.endswith(".") and len(d.text) <= 200 for d in drafts)

    def test_text_without_articles_falls_back_to_general(self) -> None:
        doc = make_doc(
            "Just a memo. Nothing numbered here.",
            "As referred to in Article 3 of the act.",
            "Section 152 of title 18 makes it a crime.",  # a citation opening a sentence is no article
            "Section 347(a) of the Code requires it.",
        )
        assert LawsTemplate().split(doc) == GeneralTemplate().split(doc)


class TestQA:
    def test_q_a_text_pairs_with_a_question_variant(self) -> None:
        doc = make_doc(
            ("FAQ", "title"),
            "Q: How do I reset my password?",
            "A: Open the settings page.",
            "It takes a minute.",
            "Q: Can I export data?",
            "A: Yes, as CSV.",
            ("Contact", "title"),
            "Mail us.",
        )
        drafts = QATemplate().split(doc)
        main = [d for d in drafts if "variant" not in d.fields]
        variants = [d for d in drafts if d.fields.get("variant") == "question"]
        pairs = [d for d in main if "question" in d.fields]
        assert [d.text for d in pairs] == [
            "Q: How do I reset my password?\nA: Open the settings page. It takes a minute.",
            "Q: Can I export data?\nA: Yes, as CSV.",
        ]
        assert pairs[0].fields == {
            "question": "How do I reset my password?",
            "answer": "Open the settings page. It takes a minute.",
        }
        assert (
            doc.text[pairs[0].start : pairs[0].end]
            == "Q: How do I reset my password?\n\nA: Open the settings page.\n\nIt takes a minute."
        )
        assert [v.index_text for v in variants] == ["How do I reset my password?", "Can I export data?"]
        assert [(v.text, v.start, v.end) for v in variants] == [(p.text, p.start, p.end) for p in pairs]
        assert [d.text for d in main if "question" not in d.fields] == ["FAQ", "Contact\n\nMail us."]

    def test_chinese_pairs(self) -> None:
        doc = make_doc("问：如何安装？", "答：运行安装程序。", "问题：支持 Windows 吗？", "回答：支持。")
        pairs = [d for d in QATemplate().split(doc) if "variant" not in d.fields]
        assert by(pairs, "question") == ["如何安装？", "支持 Windows 吗？"]
        assert by(pairs, "answer") == ["运行安装程序。", "支持。"]

    def test_table_rows_with_chinese_column_names(self) -> None:
        table = (
            "编号 | 问题 | 答案\n1 | 如何重置密码？ | 在设置页面重置。\n2 | 是否收费？ | 免费。\n3 |  | 没有问题的行"
        )
        doc = make_doc("说明", (table, "table"), file_type="csv")
        drafts = QATemplate().split(doc)
        pairs = [d for d in drafts if "question" in d.fields and "variant" not in d.fields]
        assert [d.text for d in pairs] == ["Q: 如何重置密码？\nA: 在设置页面重置。", "Q: 是否收费？\nA: 免费。"]
        assert [doc.text[d.start : d.end] for d in pairs] == [
            "1 | 如何重置密码？ | 在设置页面重置。",
            "2 | 是否收费？ | 免费。",
        ]
        assert by(pairs, "row") == [1, 2]
        assert [d.text for d in drafts if "question" not in d.fields] == ["说明", "3 |  | 没有问题的行"]
        assert sum(1 for d in drafts if d.fields.get("variant") == "question") == 2

    def test_columns_named_by_parameter_and_separators_inside_the_answer(self) -> None:
        table = "id | ask | reply | url\n1 | Is it fast? | Yes | very | http://x\n2 | Is it free? | No | http://y"
        doc = make_doc((table, "table"), file_type="csv")
        assert QATemplate().split(doc) == GeneralTemplate().split(doc)  # no question-like column: no pairs
        pairs = [d for d in QATemplate(question_column="ask").split(doc) if "variant" not in d.fields]
        assert by(pairs, "answer") == ["Yes | very", "No"]

    def test_a_long_answer_is_split_and_the_question_indexed_once(self) -> None:
        answer = " ".join(f"Step {i} is to check the cable." for i in range(30))
        doc = make_doc("Q: Why is the network down?", f"A: {answer}")
        drafts = QATemplate(chunk_size=200, overlap=0).split(doc)
        parts = [d for d in drafts if "variant" not in d.fields]
        assert len(parts) >= 4 and all(d.text.startswith("Q: Why is the network down?\nA: Step") for d in parts)
        assert all(len(d.text) <= 200 for d in parts)
        assert " ".join(d.text.split("\nA: ")[1] for d in parts) == answer
        assert sum(1 for d in drafts if "variant" in d.fields) == 1

    def test_documents_without_pairs_fall_back_to_general(self) -> None:
        doc = make_doc("Quarterly report. Revenue grew.", ("Team | City\nBlues | STL", "table"))
        assert QATemplate().split(doc) == GeneralTemplate().split(doc)


class TestTable:
    HEADER = "Name | City | Score"

    def rows_doc(self, n: int, file_type: str = "csv") -> ParsedDocument:
        rows = [f"Player number {i} | City {i % 5} | {i * 7}" for i in range(1, n + 1)]
        return make_doc((self.HEADER + "\n" + "\n".join(rows), "table", 1), file_type=file_type)

    def test_header_repeated_rows_whole_and_in_order(self) -> None:
        doc = self.rows_doc(30, file_type="xlsx")
        drafts = TableTemplate(chunk_size=200, overlap=0).split(doc)
        assert len(drafts) >= 5
        seen = []
        for d in drafts:
            lines = d.text.split("\n")
            assert lines[0] == self.HEADER and len(d.text) <= 200
            seen += lines[1:]
            assert doc.text[d.start : d.end].endswith(lines[-1])
        assert seen == doc.text.split("\n")[1:]  # every row once, none cut
        assert drafts[0].text == doc.text[drafts[0].start : drafts[0].end]
        firsts, lasts = zip(*by(drafts, "rows"), strict=True)
        assert firsts[0] == 1 and lasts[-1] == 30 and list(firsts[1:]) == [x + 1 for x in lasts[:-1]]
        assert by(drafts, "sheet") == [1] * len(drafts) and by(TableTemplate().split(self.rows_doc(2)), "page") == [1]

    def test_a_row_longer_than_a_chunk_is_a_chunk_alone(self) -> None:
        long = "Big | " + "x" * 300 + " | 1"
        doc = make_doc((f"{self.HEADER}\nA | B | 2\n{long}\nC | D | 3", "table"))
        drafts = TableTemplate(chunk_size=100, overlap=0).split(doc)
        assert [d.text for d in drafts] == [
            f"{self.HEADER}\nA | B | 2",
            f"{self.HEADER}\n{long}",
            f"{self.HEADER}\nC | D | 3",
        ]
        assert by(drafts, "rows") == [[1, 1], [2, 2], [3, 3]]
        assert "sheet" not in drafts[0].fields

    def test_a_caption_row_is_repeated_with_the_column_names(self) -> None:
        table = "Stanley Cups |  |\nTeam | Location | Cups\n" + "\n".join(
            f"Team {i} | City {i} | {i}" for i in range(20)
        )
        drafts = TableTemplate(chunk_size=120, overlap=0).split(make_doc((table, "table")))
        assert len(drafts) > 2
        assert all(d.text.startswith("Stanley Cups |  |\nTeam | Location | Cups\nTeam ") for d in drafts)

    def test_other_elements_are_packed_around_the_table(self) -> None:
        doc = make_doc("Intro text.", ("Sheet A", "title", 2), (f"{self.HEADER}\nA | B | 1", "table", 2), "Footnote.")
        doc = ParsedDocument(doc.external_id, doc.title, doc.elements, "xlsx")
        drafts = TableTemplate().split(doc)
        assert [d.text for d in drafts] == ["Intro text.", f"Sheet A\n\n{self.HEADER}\nA | B | 1", "Footnote."]
        assert drafts[1].fields == {"table": 1, "sheet": 2, "rows": [1, 1]}
        assert drafts[1].index_text is None  # the sheet title is already the first line


class TestPaper:
    def paper(self) -> ParsedDocument:
        return make_doc(
            ("Learning to Chunk", "title"),
            "Ada Lovelace, Analytical Society",
            ("Abstract", "title"),
            "We study chunking. Results are good.",
            ("1 Introduction", "title"),
            "Chunking matters for retrieval.",
            ("2 Method", "title"),
            "We split by sections.",
            ("References", "title"),
            "[1] A. Author. A paper. 2020.",
            "[2] B. Author. Another paper. 2021.",
        )

    def test_abstract_body_and_references_are_chunked_apart(self) -> None:
        doc = self.paper()
        drafts = PaperTemplate().split(doc)
        assert_exact(doc, drafts)
        assert [(d.fields["part"], d.fields.get("section")) for d in drafts] == [
            ("body", "Learning to Chunk"),
            ("abstract", None),
            ("body", "1 Introduction"),
            ("body", "2 Method"),
            ("references", None),
        ]
        assert drafts[1].text == "Abstract\n\nWe study chunking. Results are good."
        assert drafts[4].text.startswith("References\n\n[1]") and drafts[4].text.endswith("2021.")

    def test_references_can_be_dropped(self) -> None:
        drafts = PaperTemplate(references="drop").split(self.paper())
        assert "references" not in by(drafts, "part") and not any("[1]" in d.text for d in drafts)
        assert len(drafts) == 4

    def test_inline_abstract_ends_at_keywords_and_chinese_markers(self) -> None:
        doc = make_doc(
            "Abstract. We propose X.",
            "Keywords: chunking",
            ("引言", "title"),
            "正文。",
            "参考文献",
            "[1] 张三. 论文. 2020.",
        )
        assert by(PaperTemplate().split(doc), "part") == ["abstract", "body", "body", "references"]


class TestSlides:
    def test_one_chunk_per_slide_indexed_with_its_title(self) -> None:
        doc = make_doc(
            ("Welcome", "title", 1),
            ("Agenda for today", "narrativetext", 1),
            ("Results", "title", 2),
            ("Revenue grew", "listitem", 2),
            ("Q | Revenue\n1 | 10", "table", 3),
            ("Backwards slide", "title", 3),
            file_type="pptx",
        )
        drafts = SlidesTemplate().split(doc)
        assert_exact(doc, drafts)
        assert [(d.fields["slide"], d.fields["slide_title"]) for d in drafts] == [
            (1, "Welcome"),
            (2, "Results"),
            (3, "Backwards slide"),
        ]
        assert (
            drafts[1].text == "Results\n\nRevenue grew" and drafts[1].index_text == "Results\nResults\n\nRevenue grew"
        )
        assert drafts[2].text.startswith("Q | Revenue") and drafts[2].page == 3

    def test_an_overlong_slide_is_split_but_keeps_its_fields(self) -> None:
        bullets = [(f"Bullet point number {i} explains a detail.", "listitem", 2) for i in range(20)]
        doc = make_doc(("Intro", "title", 1), ("Details", "title", 2), *bullets, ("End", "title", 3))
        drafts = SlidesTemplate(chunk_size=200, overlap=0).split(doc)
        second = [d for d in drafts if d.fields["slide"] == 2]
        assert len(second) >= 4 and all(len(d.text) <= 200 for d in second)
        assert all(d.fields["slide_title"] == "Details" and d.index_text.startswith("Details\n") for d in second)
        assert by(drafts, "slide") == sorted(by(drafts, "slide")) and by(drafts, "slide")[-1] == 3


class TestEmail:
    META = {"subject": "Budget", "from": "Ann <ann@x.org>", "to": "Bob <bob@x.org>", "created_at": "2024-06-03"}

    def test_headers_on_every_chunk_and_quoted_history_apart(self) -> None:
        doc = make_doc(
            "Hi Bob, the budget is approved.",
            "Thanks, Ann",
            "On Mon, 3 Jun 2024 at 10:00, Bob <bob@x.org> wrote:",
            "> Is the budget approved?",
            "> We need it by Friday.",
            file_type="eml",
            **self.META,
            cc="Carl <carl@x.org>",
        )
        drafts = EmailTemplate().split(doc)
        assert_exact(doc, drafts)
        assert by(drafts, "part") == ["message", "quoted"]
        assert drafts[0].text == "Hi Bob, the budget is approved.\n\nThanks, Ann"
        assert drafts[1].text.startswith("On Mon") and drafts[1].text.endswith("by Friday.")
        for d in drafts:
            assert d.fields["from"] == "Ann <ann@x.org>" and d.fields["to"] == "Bob <bob@x.org>"
            assert d.fields["cc"] == "Carl <carl@x.org>" and d.fields["date"] == "2024-06-03"
            assert d.fields["subject"] == "Budget" and d.index_text == f"Budget\n{d.text}"

    @pytest.mark.parametrize(
        "marker",
        [
            "-----Original Message-----",
            "发件人: 张三 <z@x.cn>",
            "From: Bob Sent: Monday, June 3, 2024 To: Ann Subject: Budget",
        ],
    )
    def test_history_markers(self, marker: str) -> None:
        doc = make_doc("New text here.", marker, "Old text here.", file_type="eml", **self.META)
        drafts = EmailTemplate().split(doc)
        assert [(d.fields["part"], d.text) for d in drafts] == [
            ("message", "New text here."),
            ("quoted", f"{marker}\n\nOld text here."),
        ]

    def test_interleaved_quotes_alternate_with_the_reply(self) -> None:
        doc = make_doc("> Can you come?", "Yes, I can.", "> At noon?", "Noon works.", file_type="eml")
        drafts = EmailTemplate().split(doc)
        assert by(drafts, "part") == ["quoted", "message", "quoted", "message"]
        assert "subject" not in drafts[0].fields and drafts[0].index_text is None


class TestAuto:
    @pytest.mark.parametrize(
        "doc, expected",
        [
            (make_doc(("Hello", "title", 1), file_type="pptx"), "slides"),
            (make_doc("Hi.", file_type="eml"), "email"),
            (make_doc(("问题 | 答案\n怎么用？ | 这样用。", "table"), file_type="csv"), "qa"),
            (make_doc(("Team | City\nBlues | STL", "table", 1), file_type="xlsx"), "table"),
            (make_doc(*TestLaws.ZH), "laws"),
            (make_doc(*[f"Article {i} applies." for i in range(3)], *["Plain text."] * 200), "general"),
            (make_doc("Q: a?", "A: b.", "Q: c?", "A: d.", "Q: e?", "A: f."), "qa"),
            (TestPaper().paper(), "paper"),
            (make_doc("1 Setup", "Do it.", "2 Usage", "Use it.", "2.1 Advanced", "More."), "manual"),
            (make_doc("Just some text. Nothing else.", "Another paragraph."), "general"),
        ],
    )
    def test_choice_and_reason(self, doc: ParsedDocument, expected: str) -> None:
        name, reason = choose_template(doc)
        assert name == expected and len(reason) > 10

    def test_auto_template_delegates_to_the_choice(self) -> None:
        doc = make_doc(*TestLaws.ZH)
        assert AutoTemplate(chunk_size=300, overlap=30).split(doc) == LawsTemplate(chunk_size=300, overlap=30).split(
            doc
        )


@cache
def parsed(*parts: str) -> ParsedDocument:
    from app.adapters.unstructured_parser import UnstructuredParser

    path = shared_data("documents", *parts)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    [doc] = UnstructuredParser().parse(str(path), path.name)
    return doc


def split_auto(doc: ParsedDocument, expected: str) -> list[ChunkDraft]:
    name, _ = choose_template(doc)
    assert name == expected
    drafts = get_template(name).split(doc)
    assert drafts and all(0 <= d.start < d.end <= len(doc.text) for d in drafts)
    return drafts


@pytest.mark.slow
@pytest.mark.data
class TestRealDocuments:
    def test_presentation_is_one_chunk_per_slide(self) -> None:
        drafts = split_auto(parsed("mixed-formats", "sample-presentation.pptx"), "slides")
        assert by(drafts, "slide") == [1, 2, 3, 4]
        assert by(drafts, "slide_title")[3] == "This is kinda backwards, huh?"  # its table comes before its title

    def test_email_has_its_headers(self) -> None:
        drafts = split_auto(parsed("mixed-formats", "fake-email.eml"), "email")
        assert by(drafts, "part") == ["message"] and drafts[0].fields["subject"] == "Test Email"
        assert "mrobinson@unstructured.io" in drafts[0].fields["from"] and drafts[0].fields["date"].startswith(
            "2022-12-16"
        )

    def test_reply_keeps_history_apart(self) -> None:
        drafts = split_auto(parsed("mixed-formats", "eml", "email-no-utf8-2008-07-16.062410.eml"), "email")
        parts = by(drafts, "part")
        assert parts[0] == "message" and "quoted" in parts and parts == sorted(parts)
        assert all("From: Slava" not in d.text for d in drafts if d.fields["part"] == "message")

    def test_chinese_manual_has_section_paths(self) -> None:
        doc = parsed("zh-samples", "大模型推理优化策略.md")
        drafts = split_auto(doc, "manual")
        sections = by(drafts, "section")
        assert "大模型推理优化策略 > 7.1 显存优化" in sections and "大模型推理优化策略 > 7.2 算子融合" in sections
        assert all(d.index_text.startswith("大模型推理优化策略") for d in drafts)

    def test_issue_table_is_question_answer_pairs(self) -> None:
        drafts = split_auto(parsed("zh-samples", "langchain-ChatGLM_open.csv"), "qa")
        pairs = [d for d in drafts if "variant" not in d.fields]
        variants = [d for d in drafts if d.fields.get("variant") == "question"]
        assert len(pairs) > 100 and len(variants) == len({d.fields["row"] for d in pairs})
        assert pairs[0].fields["question"] == "效果如何优化" and pairs[0].text.startswith("Q: 效果如何优化\nA: ")

    def test_workbook_sheets_are_tables(self) -> None:
        drafts = split_auto(parsed("mixed-formats", "stanley-cups.xlsx"), "table")
        assert by(drafts, "sheet") == [1, 2]
        assert all("Team | Location | Stanley Cups\nBlues | STL" in d.text for d in drafts)

    def test_paper_pdf_has_an_abstract(self) -> None:
        drafts = split_auto(parsed("mixed-formats", "pdf", "layout-parser-paper-fast.pdf"), "paper")
        abstract = [d for d in drafts if d.fields["part"] == "abstract"]
        assert abstract and abstract[0].text.startswith("Abstract.")
