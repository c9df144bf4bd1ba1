"""MetadataEnricher: normalised parser metadata, dates, language fallback, keywords (English, Chinese, mixed) and the
optional LLM enrichment with a scripted model."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.adapters.doc_properties import email_headers
from app.core.domain import Element, ParsedDocument
from ingest.enrich import MetadataEnricher, extract_keywords, normalise_date, parse_llm_enrichment
from tests.conftest import shared_data

HR_POLICY = """Annual Leave Policy

Every full-time employee is entitled to 25 days of annual leave per calendar year. Annual leave accrues monthly and
must be requested through the HR portal at least two weeks in advance. Unused annual leave of up to five days may be
carried over into the next calendar year; any remaining days are forfeited on 31 March.

Sick leave is separate from annual leave. An employee who is ill must notify their line manager before 10:00 on the
first day of absence. For sick leave longer than three days a medical certificate is required, and the HR portal
records the certificate together with the absence.

Parental leave follows the statutory rules. The line manager approves parental leave requests in the HR portal, and
payroll adjusts the salary for the months of parental leave. Questions about the annual leave policy go to the HR
service desk, which answers within two working days.
"""

ZH_POLICY = """休假制度

每位全职员工每个日历年享有二十五天带薪年假。员工必须至少提前两周通过人力资源系统提交休假申请。
病假与带薪年假分开计算。员工生病时，必须在缺勤第一天上午十点之前通知直属经理。病假超过三天需要提供医院出具的病假证明，
人力资源系统会把病假证明与缺勤记录一并保存。
产假按照国家法定规定执行。直属经理在人力资源系统中审批产假申请，薪资部门根据产假月份调整工资。
"""

FRENCH = (
    "La politique de congés annuels s'applique à tous les salariés à temps plein. Chaque salarié bénéficie de "
    "vingt-cinq jours de congés payés par année civile, à demander au moins deux semaines à l'avance."
)


def make_doc(
    text: str, file_type: str = "txt", pages: list[int | None] | None = None, **metadata: object
) -> ParsedDocument:
    paragraphs = [p for p in text.split("\n\n") if p.strip()] or [text]
    pages = pages or [None] * len(paragraphs)
    elements, pos = [], 0
    for para, page in zip(paragraphs, pages, strict=False):
        elements.append(Element(para, page=page, start=pos, end=pos + len(para)))
        pos += len(para) + 2
    return ParsedDocument("doc.txt", str(metadata.get("title", "doc")), tuple(elements), file_type, dict(metadata))


class ScriptedLLM:
    """A prompt → completion fake: replies are enqueued, prompts recorded."""

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []

    def enqueue(self, reply: str | Exception) -> None:
        self.replies.append(reply)

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


SOURCE = {"filename": "leave-policy.pdf", "size_bytes": 52311}


class TestConstruction:
    def test_defaults(self) -> None:
        e = MetadataEnricher()
        assert (e.max_keywords, e.llm, e.language_fallback) == (8, None, "en")

    @pytest.mark.parametrize("bad", [-1, 51, True, "8", 2.5])
    def test_invalid_max_keywords(self, bad: object) -> None:
        with pytest.raises(ValueError, match="max_keywords must be an integer from 0 to 50"):
            MetadataEnricher(max_keywords=bad)  # type: ignore[arg-type]

    def test_llm_must_be_callable(self) -> None:
        with pytest.raises(ValueError, match="llm must be a callable"):
            MetadataEnricher(llm="gpt")  # type: ignore[arg-type]


class TestDates:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2023-05-16T17:28:40+02:00", "2023-05-16T15:28:40Z"),  # office core properties (iso_date)
            ("2023-05-16T17:28:40Z", "2023-05-16T17:28:40Z"),
            ("2023-05-16T17:28:40.123456", "2023-05-16T17:28:40Z"),  # naive: taken as UTC, microseconds dropped
            ("2023-05-16", "2023-05-16T00:00:00Z"),
            ("2023-05-16 08:00:00-05:00", "2023-05-16T13:00:00Z"),
            ("Tue, 16 May 2023 17:28:40 +0200", "2023-05-16T15:28:40Z"),  # raw e-mail Date header
            ("D:20230516172840+02'00'", "2023-05-16T15:28:40Z"),  # raw PDF date
            ("D:20230516172840Z", "2023-05-16T17:28:40Z"),
            ("D:2023", "2023-01-01T00:00:00Z"),
            ("2023/05/16", "2023-05-16T00:00:00Z"),
            ("16 May 2023", "2023-05-16T00:00:00Z"),
            ("May 16, 2023", "2023-05-16T00:00:00Z"),
            ("16.05.2023", "2023-05-16T00:00:00Z"),
            ("2023年5月16日", "2023-05-16T00:00:00Z"),
            (1684258120, "2023-05-16T17:28:40Z"),
            (datetime(2023, 5, 16, 17, 28, 40, tzinfo=timezone(timedelta(hours=-7))), "2023-05-17T00:28:40Z"),
            (date(2023, 5, 16), "2023-05-16T00:00:00Z"),
            ("Jan 1, 0001", "0001-01-01T00:00:00Z"),  # four-digit years whatever the platform's strftime does
        ],
    )
    def test_formats(self, value: object, expected: str) -> None:
        assert normalise_date(value) == expected

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "  ",
            "not a date",
            "2023-13-45",
            "2023",
            "D:",
            True,
            -5,
            10**12,
            float("nan"),
            ["2023-05-16"],
            "Tue, 99 May 2023 17:28:40 +0200",
            "9999-12-31T23:59:59-05:00",
        ],
    )
    def test_unreadable_is_none(self, value: object) -> None:
        assert normalise_date(value) is None

    def test_email_date_header_through_the_parser_helper(self) -> None:
        raw = (
            b"From: =?utf-8?b?5byg5LiJ?= <zhang@example.com>\r\nTo: hr@example.com\r\n"
            b"Subject: Leave request\r\nDate: Mon, 04 Mar 2024 09:30:00 +0800\r\n\r\nbody"
        )
        headers, encrypted = email_headers(raw)
        assert not encrypted
        doc = make_doc("I would like to take annual leave next week.", file_type="eml", **headers)
        meta = MetadataEnricher().enrich(doc, {"filename": "leave.eml", "size_bytes": len(raw)})
        assert meta["created_at"] == "2024-03-04T01:30:00Z"
        assert meta["author"] == "张三 <zhang@example.com>"  # no author property: the sender
        assert (meta["subject"], meta["from"], meta["to"]) == (
            "Leave request",
            "张三 <zhang@example.com>",
            "hr@example.com",
        )

    def test_enrich_normalises_both_dates_and_drops_bad_ones(self) -> None:
        doc = make_doc(HR_POLICY, created_at="D:20240301093000+01'00'", modified_at="yesterday")
        meta = MetadataEnricher().enrich(doc, SOURCE)
        assert meta["created_at"] == "2024-03-01T08:30:00Z"
        assert "modified_at" not in meta


class TestLanguage:
    @pytest.mark.parametrize(("given", "expected"), [("en", "en"), ("zh-cn", "zh"), ("de_DE", "de"), ("FR", "fr")])
    def test_parser_language_is_kept_as_iso_639_1(self, given: str, expected: str) -> None:
        # The text is English: a given language wins over detection.
        assert MetadataEnricher().enrich(make_doc(HR_POLICY, language=given), SOURCE)["language"] == expected

    @pytest.mark.parametrize(
        ("text", "given", "expected"),
        [(ZH_POLICY, None, "zh"), (FRENCH, None, "fr"), (HR_POLICY, "english", "en"), (ZH_POLICY, "", "zh")],
    )
    def test_detected_when_missing_or_invalid(self, text: str, given: str | None, expected: str) -> None:
        meta = {} if given is None else {"language": given}
        assert MetadataEnricher().enrich(make_doc(text, **meta), SOURCE)["language"] == expected

    def test_fallback_on_too_little_text_and_absent_without_text(self) -> None:
        assert MetadataEnricher(language_fallback="de").enrich(make_doc("Hello"), SOURCE)["language"] == "de"
        empty = ParsedDocument("e.txt", "e", (), "txt", {})
        assert "language" not in MetadataEnricher().enrich(empty, SOURCE)


class TestKeywords:
    def test_english_prefers_phrases_and_drops_stopwords(self) -> None:
        kws = extract_keywords(HR_POLICY, 8)
        assert len(kws) == 8
        assert kws[0] == "annual leave"
        assert {"HR portal", "parental leave", "line manager", "calendar year"} <= set(kws)
        lowered = " ".join(kws).lower().split()
        assert not {"the", "of", "every", "must", "which", "any"} & set(lowered)
        # "leave" alone is covered by its phrases; a one-off extension of a pick is not a keyword.
        assert "leave" not in [k.lower() for k in kws] and "Annual leave accrues" not in kws

    def test_a_word_that_lives_inside_a_name_gives_way_to_the_name(self) -> None:
        verbs = ["smiled", "spoke", "laughed", "wrote", "listened", "waited"]
        things = ["window", "garden", "army", "regiment", "letter", "portrait", "river", "carriage"]
        text = " ".join(
            f"Prince Andrew looked at the {t}. Pierre {v} to Prince Andrew, and Natasha {w}."
            for t, v, w in zip(things * 6, verbs * 8, reversed(verbs * 8), strict=True)
        )
        kws = extract_keywords(text, 4)
        assert kws[:3] == ["Prince Andrew", "Pierre", "Natasha"]  # capitalised surface form kept
        # "Andrew" and "Prince" only occur in the name; "Andrew looked" only inside "Prince Andrew looked", which
        # extends the name in half of its uses only.
        assert not {"Andrew", "Prince", "Andrew looked", "Prince Andrew looked"} & set(kws)

    def test_chinese_uses_jieba(self) -> None:
        kws = extract_keywords(ZH_POLICY, 8)
        assert len(kws) == 8
        assert {"病假", "产假", "人力资源"} <= set(kws)
        assert not {"的", "与", "在", "可以"} & set(kws)

    def test_mixed_text_gets_keywords_from_both_languages(self) -> None:
        kws = extract_keywords(HR_POLICY + "\n\n" + ZH_POLICY[:120], 8)
        assert "annual leave" in kws
        assert any("\u4e00" <= ch <= "\u9fff" for k in kws for ch in k)
        # English terms inside Chinese text are kept by jieba.
        zh_with_terms = "使用 PagedAttention 管理 KV cache 显存。PagedAttention 把显存分页管理，显存利用率更高。" * 3
        assert "PagedAttention" in extract_keywords(zh_with_terms, 4)

    def test_links_images_and_numbers_are_not_keywords(self) -> None:
        text = (
            "![图片](./img/figure-1.jpg) See https://example.com/docs/report.html and [the report](https://x.org). "
            "Revenue grew 2024 2024 2024 by 15 percent; revenue growth was strong. Revenue growth matters."
        )
        kws = extract_keywords(text, 10)
        assert kws and not [k for k in kws if any(s in k.lower() for s in ("http", "jpg", "img", "example", "2024"))]
        assert "report" in [k.lower() for k in kws]  # a link keeps its text

    def test_deterministic_and_bounded(self) -> None:
        assert extract_keywords(HR_POLICY, 5) == extract_keywords(HR_POLICY, 5)
        assert len(extract_keywords(HR_POLICY, 3)) == 3
        assert extract_keywords("", 5) == [] and extract_keywords("the of and", 5) == []

    def test_a_long_document_is_sampled_across_its_length(self) -> None:
        # The word that only the end of a long document mentions still counts: windows span the whole text.
        text = "Alpha beta gamma.\n\n" * 20_000 + "Zirconium crucible.\n\n" * 2_000
        assert len(text) > 300_000
        assert "Zirconium crucible" in extract_keywords(text, 5)

    def test_max_keywords_zero_and_call_time_override(self) -> None:
        doc = make_doc(HR_POLICY)
        assert "keywords" not in MetadataEnricher(max_keywords=0).enrich(doc, SOURCE)
        assert len(MetadataEnricher(max_keywords=8).enrich(doc, SOURCE, max_keywords=2)["keywords"]) == 2

    @pytest.mark.data
    def test_real_chinese_document(self) -> None:
        path = shared_data("documents", "zh-samples", "大模型推理优化策略.md")
        doc = make_doc(path.read_text(encoding="utf-8"), file_type="md")
        meta = MetadataEnricher().enrich(doc, {"filename": path.name, "size_bytes": path.stat().st_size})
        assert meta["language"] == "zh"
        assert {"PagedAttention", "显存", "优化"} <= set(meta["keywords"])
        assert not {"img", "jpg", "https", "图片"} & set(meta["keywords"])

    @pytest.mark.data
    def test_real_english_book(self) -> None:
        path = shared_data("documents", "mixed-formats", "book-war-and-peace-1225p.txt")
        kws = extract_keywords(path.read_text(encoding="utf-8"), 8)
        assert {"Prince Andrew", "Pierre", "Natasha"} <= set(kws)
        assert {"Napoleon", "Kutuzov", "Moscow", "Rostov"} & set(kws)  # windows reach past the first volume


class TestEnrich:
    def test_output_is_normalised_and_json_safe(self) -> None:
        doc = make_doc(
            HR_POLICY,
            file_type="PDF",
            pages=[1, 1, 2, 3],
            title="  Annual\n Leave   Policy ",
            author=["HR Team", "Legal"],
            created_at="2024-03-01T09:30:00+01:00",
            page_count=4,
            language="en",
            unknown_thing=object(),
        )
        meta = MetadataEnricher(max_keywords=3).enrich(doc, {**SOURCE, "source_uri": "s3://bucket/leave-policy.pdf"})
        assert meta == {
            "title": "Annual Leave Policy",
            "author": "HR Team, Legal",
            "created_at": "2024-03-01T08:30:00Z",
            "source": "leave-policy.pdf",
            "source_uri": "s3://bucket/leave-policy.pdf",
            "file_type": "pdf",
            "size_bytes": 52311,
            "page_count": 4,
            "language": "en",
            "keywords": ["annual leave", "HR portal", "days"],
        }
        json.dumps(meta)

    def test_unknown_values_are_absent(self) -> None:
        doc = ParsedDocument("x", "", (Element("Hello there"),), "", {"page_count": "many", "author": "  "})
        meta = MetadataEnricher().enrich(doc, {"filename": "x"})
        assert set(meta) == {"source", "language", "keywords"}  # no uri, size, title, author, dates, pages

    def test_page_count_from_elements_when_the_parser_gave_none(self) -> None:
        doc = make_doc(HR_POLICY, pages=[1, 2, 2, 7])
        assert MetadataEnricher().enrich(doc, SOURCE)["page_count"] == 7

    def test_title_falls_back_to_the_document_title(self) -> None:
        doc = ParsedDocument("x", "Parsed Title", (Element(HR_POLICY),), "txt", {})
        assert MetadataEnricher().enrich(doc, SOURCE)["title"] == "Parsed Title"

    def test_no_llm_no_llm_keys(self) -> None:
        meta = MetadataEnricher().enrich(make_doc(HR_POLICY), SOURCE)
        assert not {"summary", "likely_questions", "enrichment_error"} & set(meta)


GOOD_REPLY = json.dumps(
    {
        "summary": "The policy sets 25 days of annual leave. It explains sick leave. It covers parental leave. "
        "It also names the HR desk.",
        "questions": [
            "How many days of annual leave do I get?",
            "  How many days of annual leave do I get?  ",
            "When do I need a medical certificate?",
            "",
            42,
            "Who approves parental leave?",
            "Can I carry over leave?",
            "Where do I ask questions?",
            "What happens on 31 March?",
        ],
    }
)


class TestLLMEnrichment:
    def test_summary_and_questions(self) -> None:
        llm = ScriptedLLM(GOOD_REPLY)
        meta = MetadataEnricher(llm=llm).enrich(make_doc(HR_POLICY, title="Leave Policy", language="en"), SOURCE)
        # At most three sentences; questions cleaned, de-duplicated, non-strings dropped, at most five.
        assert meta["summary"] == (
            "The policy sets 25 days of annual leave. It explains sick leave. It covers parental leave."
        )
        assert meta["likely_questions"] == [
            "How many days of annual leave do I get?",
            "When do I need a medical certificate?",
            "Who approves parental leave?",
            "Can I carry over leave?",
            "Where do I ask questions?",
        ]
        assert "enrichment_error" not in meta
        prompt = llm.prompts[0]
        assert "Leave Policy" in prompt and "25 days of annual leave" in prompt and "JSON" in prompt
        assert "(en)" in prompt

    def test_prompt_is_capped_and_names_the_detected_language(self) -> None:
        llm = ScriptedLLM(GOOD_REPLY)
        MetadataEnricher(llm=llm).enrich(make_doc(ZH_POLICY * 200), SOURCE)
        assert "(zh)" in llm.prompts[0] and len(llm.prompts[0]) < 7000

    @pytest.mark.parametrize(
        "reply",
        [
            "Sure! Here you go:\n```json\n" + GOOD_REPLY + "\n```\nHope this helps {not json}.",
            "{oops} " + GOOD_REPLY,
            '{"unrelated": 1} then ' + GOOD_REPLY.replace('"questions"', '"likely_questions"'),
        ],
    )
    def test_json_is_found_inside_junk(self, reply: str) -> None:
        meta = parse_llm_enrichment(reply)
        assert meta["summary"].startswith("The policy sets 25 days") and len(meta["likely_questions"]) == 5
        assert "enrichment_error" not in meta

    @pytest.mark.parametrize(
        ("reply", "keys", "error"),
        [
            ("I cannot help with that.", set(), "llm reply has no JSON object"),
            ("", set(), "llm reply has no JSON object"),
            ('["a list", "not an object"]', set(), "llm reply has no JSON object"),
            ('{"summary": "Short summary."}', {"summary"}, "llm reply: no questions"),
            ('{"summary": "  ", "questions": "one?"}', set(), "llm reply: no summary, no questions"),
            ('{"summary": 7, "questions": ["Why?"]}', {"likely_questions"}, "llm reply: no summary"),
            ('{"summary": "Cut off', set(), "llm reply has no JSON object"),
        ],
    )
    def test_junk_sets_enrichment_error_and_omits_keys(self, reply: str, keys: set[str], error: str) -> None:
        meta = MetadataEnricher(llm=ScriptedLLM(reply)).enrich(make_doc(HR_POLICY), SOURCE)
        assert {"summary", "likely_questions"} & set(meta) == keys
        assert meta["enrichment_error"] == error
        assert meta["keywords"]  # the rest of the enrichment is unaffected

    def test_a_failing_llm_never_raises(self) -> None:
        llm = ScriptedLLM(TimeoutError("model timed out"))
        meta = MetadataEnricher(llm=llm).enrich(make_doc(HR_POLICY), SOURCE)
        assert meta["enrichment_error"] == "llm call failed: TimeoutError: model timed out"
        assert "summary" not in meta and meta["title"]

    def test_non_string_completion_is_junk(self) -> None:
        meta = MetadataEnricher(llm=lambda _prompt: None).enrich(make_doc(HR_POLICY), SOURCE)  # type: ignore[arg-type,return-value]
        assert meta["enrichment_error"] == "llm reply has no JSON object"


def test_dates_are_utc_strings_that_the_filter_layer_reads_back() -> None:
    from app.core.filters import to_timestamp

    iso = normalise_date("Tue, 16 May 2023 17:28:40 +0200")
    assert iso is not None
    assert to_timestamp(iso) == datetime(2023, 5, 16, 15, 28, 40, tzinfo=UTC).timestamp()


def test_jieba_loads_quietly() -> None:
    # A fresh interpreter: jieba's first use loads its dictionary, which by default logs to stderr.
    code = (
        "from ingest.enrich import extract_keywords; print(extract_keywords('人力资源系统会把病假证明保存。' * 5, 3))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stderr == ""
    assert done.stdout.strip().startswith("['")
