"""Import files: parsing (CSV, JSONL, Chinese headers, encodings) and all-or-nothing validation with row numbers."""

from __future__ import annotations

import json

import pytest

from app.core.errors import InvalidInputError
from app.faq import FaqImportError, FaqService
from app.faq.importing import parse_file, validate_rows


def errors_of(data: bytes, filename: str) -> list[dict]:
    with pytest.raises(FaqImportError) as caught:
        validate_rows(parse_file(data, filename)[0])
    return caught.value.errors


class TestParse:
    def test_csv_with_alt_questions_tags_and_ignored_columns(self) -> None:
        data = (
            b"Question,Answer,alt_questions,tags,owner\n"
            b'"How long is probation?","Six months, then a review.",Probation length?|Trial period?,hr|contract,ann\n'
        )
        rows, ignored = parse_file(data, "faq.csv")
        assert ignored == ["owner"]
        [fields] = validate_rows(rows)
        assert fields.answer == "Six months, then a review."
        assert fields.alt_questions == ("Probation length?", "Trial period?") and fields.tags == ("hr", "contract")

    def test_chinese_headers_bom_and_gb18030(self) -> None:
        text = "问题,答案,相似问题,标签,启用\n年假有多少天？,15天。,每年几天年假|年假天数,假期,否\n"
        for data in (b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("gb18030")):
            [fields] = validate_rows(parse_file(data, "faq.csv")[0])
            assert fields.question == "年假有多少天？" and fields.alt_questions == ("每年几天年假", "年假天数")
            assert fields.tags == ("假期",) and fields.active is False

    def test_semicolon_separated_csv(self) -> None:
        [fields] = validate_rows(parse_file(b"question;answer\nIs overtime paid?;Yes, at 125%.\n", "x.csv")[0])
        assert fields.answer == "Yes, at 125%."

    def test_jsonl_json_array_and_sniffing(self) -> None:
        rows = [{"question": "Q1?", "answer": "A1", "alt_questions": ["Q one?"]}, {"问题": "问题二？", "答案": "答二"}]
        jsonl = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
        for data, name in ((jsonl, "x.jsonl"), (jsonl, "upload"), (json.dumps(rows).encode(), "x.json")):
            parsed = validate_rows(parse_file(data, name)[0])
            assert [f.question for f in parsed] == ["Q1?", "问题二？"] and parsed[0].alt_questions == ("Q one?",)

    def test_unknown_format_and_binary_files_are_refused(self) -> None:
        with pytest.raises(InvalidInputError):
            parse_file(b"question,answer\n", "x.csv", fmt="xlsx")
        with pytest.raises(InvalidInputError, match="not text"):
            parse_file(bytes(range(256)) * 20, "x.csv")


class TestValidation:
    def test_missing_columns_name_the_header_row(self) -> None:
        [err] = errors_of(b"question,anwser\nQ?,A\n", "x.csv")
        assert err["row"] == 1 and err["field"] == "answer" and "anwser" in err["error"]

    def test_every_bad_row_is_reported_with_its_spreadsheet_row(self) -> None:
        data = b"question,answer,active\nGood?,Yes\n,No question\nNo answer?,\nFine?,Yes,maybe\ngood?,dup\n"
        errs = errors_of(data, "x.csv")
        assert [(e["row"], e["field"]) for e in errs] == [
            (3, "question"),
            (4, "answer"),
            (5, "active"),
            (6, "question"),
        ]
        assert "same question as row 2" in errs[-1]["error"]

    def test_jsonl_rows_are_line_numbers(self) -> None:
        data = b'{"question": "Q?", "answer": "A"}\n\n["not", "an object"]\n{"question": "Q2?", "answer": 5}\n'
        assert [e["row"] for e in errors_of(data, "x.jsonl")] == [3]
        data = b'{"question": "Q?", "answer": "A"}\n{"question": "Q2?", "answer": 5}\n{broken\n'
        assert [(e["row"], e["error"][:14]) for e in errors_of(data, "x.jsonl")] == [(3, "not valid JSON")]

    def test_limits(self) -> None:
        too_many_tags = {"question": "Q?", "answer": "A", "tags": [f"t{i}" for i in range(21)]}
        long_question = {"question": "x" * 1001, "answer": "A"}
        bad_alt = {"question": "Q2?", "answer": "A", "alt_questions": [1, 2]}
        with pytest.raises(FaqImportError) as caught:
            validate_rows([(1, too_many_tags), (2, long_question), (3, bad_alt)])
        assert [e["field"] for e in caught.value.errors] == ["tags", "question", "alt_questions"]
        with pytest.raises(FaqImportError, match="no rows"):
            validate_rows([])


class TestServiceImport:
    def test_a_bad_row_imports_nothing(self, faq: FaqService) -> None:
        faq.create("t", "hr", "Existing?", "Yes.")
        data = b"question,answer\nNew one?,Fine\nBroken?,\n"
        with pytest.raises(FaqImportError) as caught:
            faq.import_file("t", "hr", data, "x.csv", mode="replace")
        assert caught.value.errors == [
            {"row": 3, "field": "answer", "error": "answer is required and must be non-empty text"}
        ]
        assert [e["question"] for e in faq.list("t", "hr")["entries"]] == ["Existing?"]

    def test_upsert_then_replace(self, faq: FaqService) -> None:
        faq.create("t", "hr", "Old?", "Old.")
        result = faq.import_rows("t", "hr", [{"question": "Q1?", "answer": "A1"}, {"question": "Q2?", "answer": "A2"}])
        assert (result["created"], result["total"]) == (2, 2) and faq.list("t", "hr")["total"] == 3
        result = faq.import_rows("t", "hr", [{"question": "Q1?", "answer": "A1 (new)"}], mode="replace")
        assert (result["updated"], result["deleted"]) == (1, 2)
        assert [(e["question"], e["version"]) for e in faq.list("t", "hr")["entries"]] == [("Q1?", 2)]
        with pytest.raises(InvalidInputError, match="valid: upsert, replace"):
            faq.import_rows("t", "hr", [{"question": "Q?", "answer": "A"}], mode="merge")
