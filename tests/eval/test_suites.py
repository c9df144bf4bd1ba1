"""Suites: loading JSONL/CSV with row-level errors, rows over HTTP, content ids, writing, BEIR and HaluEval import."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

import pytest

from app.core.errors import InvalidInputError
from eval.results import Suite, SuiteCase
from eval.suites import MAX_LISTED, SuiteError, import_beir, import_halueval, load_suite, suite_from_rows, write_suite
from eval.suites_validate import FIELDS
from tests.conftest import DEMO_DIR, REPO, shared_data

DEMO_SUITE = REPO / "examples" / "eval" / "demo-suite.jsonl"

ROWS: list[dict[str, Any]] = [
    {
        "id": "q1",
        "question": "How many days of annual leave do full-time employees get?",
        "reference_answer": "25 days",
        "reference_document_ids": ["employee-handbook.md"],
        "reference_contexts": ["Full-time employees receive 25 days of paid annual leave per calendar year."],
        "tags": ["handbook", "numbers"],
    },
    {"id": "q2", "question": "Where can I park my car?", "answerable": False, "tags": ["unanswerable"]},
    {"question": "What is the minimum password length?", "reference_document_ids": ["it-security-policy.txt", "x"]},
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def errors_of(exc: pytest.ExceptionInfo[SuiteError]) -> list[str]:
    return exc.value.errors


class TestLoadSuite:
    def test_jsonl(self, tmp_path: Path) -> None:
        suite = load_suite(write_jsonl(tmp_path / "leave.jsonl", ROWS))
        assert suite.name == "leave"
        assert [c.id for c in suite.cases[:2]] == ["q1", "q2"]
        first, second, third = suite.cases
        assert first.reference_document_ids == ("employee-handbook.md",)
        assert first.tags == ("handbook", "numbers") and first.answerable
        assert not second.answerable and second.reference_answer is None
        assert third.id.startswith("q-") and len(third.id) == 12

    def test_csv_with_the_same_content_has_the_same_id(self, tmp_path: Path) -> None:
        jsonl = load_suite(write_jsonl(tmp_path / "s.jsonl", ROWS))
        header = list(FIELDS)
        rows = [
            ["q1", ROWS[0]["question"], "25 days", "employee-handbook.md", json.dumps(ROWS[0]["reference_contexts"]),
             "", "handbook|numbers"],
            ["q2", ROWS[1]["question"], "", "", "", "No", "unanswerable"],
            ["", ROWS[2]["question"], "", '["it-security-policy.txt", "x"]', "", "yes", ""],
        ]  # fmt: skip
        from_csv = load_suite(write_csv(tmp_path / "s.csv", header, rows), name="same")
        assert from_csv.cases == jsonl.cases
        assert from_csv.id == jsonl.id and from_csv.name == "same"

    @pytest.mark.parametrize("cell", ["true", "TRUE", "Yes", "1", ""])
    def test_csv_answerable_true(self, tmp_path: Path, cell: str) -> None:
        suite = load_suite(write_csv(tmp_path / "s.csv", ["question", "answerable"], [["Why?", cell]]))
        assert suite.cases[0].answerable is True

    @pytest.mark.parametrize("cell", ["false", "False", "no", "NO", "0"])
    def test_csv_answerable_false(self, tmp_path: Path, cell: str) -> None:
        suite = load_suite(write_csv(tmp_path / "s.csv", ["question", "answerable"], [["Why?", cell]]))
        assert suite.cases[0].answerable is False

    def test_csv_with_excel_bom_and_padded_header(self, tmp_path: Path) -> None:
        path = tmp_path / "s.csv"
        path.write_text("\ufeffid, question\nq1,Why?\n", encoding="utf-8")
        assert load_suite(path).cases[0].id == "q1"

    def test_single_strings_for_ids_and_tags(self, tmp_path: Path) -> None:
        row = {"question": "Why?", "reference_document_ids": "a.md", "tags": "smoke", "id": 7}
        case = load_suite(write_jsonl(tmp_path / "s.jsonl", [row])).cases[0]
        assert (case.id, case.reference_document_ids, case.tags) == ("7", ("a.md",), ("smoke",))

    def test_derived_id_is_stable(self, tmp_path: Path) -> None:
        a = load_suite(write_jsonl(tmp_path / "a.jsonl", [{"question": "  Why?  "}]))
        b = load_suite(write_jsonl(tmp_path / "b.jsonl", [{"question": "Why?"}]))
        assert a.cases[0].id == b.cases[0].id and a.cases[0].question == "Why?"

    def test_blank_lines_are_skipped_and_numbered(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "s.jsonl", [{"question": "a"}, "", "   ", {"question": ""}])
        with pytest.raises(SuiteError) as e:
            load_suite(path)
        assert errors_of(e) == ['line 4: "question" is empty']

    def test_wrong_suffix(self, tmp_path: Path) -> None:
        path = tmp_path / "s.json"
        path.write_text("[]", encoding="utf-8")
        with pytest.raises(SuiteError) as e:
            load_suite(path)
        assert '".json"' in str(e.value) and ".jsonl or .csv" in str(e.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(SuiteError, match="not found"):
            load_suite(tmp_path / "nope.jsonl")

    @pytest.mark.parametrize("content", ["", "\n\n", "id,question\n"])
    def test_empty_file(self, tmp_path: Path, content: str) -> None:
        path = tmp_path / ("s.csv" if "," in content else "s.jsonl")
        path.write_text(content, encoding="utf-8")
        with pytest.raises(SuiteError, match="no rows"):
            load_suite(path)

    def test_empty_csv(self, tmp_path: Path) -> None:
        (tmp_path / "s.csv").write_text("", encoding="utf-8")
        with pytest.raises(SuiteError) as e:
            load_suite(tmp_path / "s.csv")
        assert errors_of(e)[0].startswith("line 1: the file is empty")

    def test_csv_trailing_comma_column(self, tmp_path: Path) -> None:
        path = tmp_path / "s.csv"
        path.write_text("question,\na,\nb,oops\n", encoding="utf-8")
        with pytest.raises(SuiteError) as e:
            load_suite(path)
        assert errors_of(e) == ['line 3: a cell under a column with no name in the header: "oops"']

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "s.csv"
        path.write_bytes("question\nWie viele Urlaubstage?\nGrö\xdfe\n".encode("latin-1"))
        with pytest.raises(SuiteError, match="not UTF-8"):
            load_suite(path)

    def test_bad_answerable(self, tmp_path: Path) -> None:
        rows = [{"question": f"q{i}"} for i in range(3)] + [{"question": "q", "answerable": "maybe"}]
        with pytest.raises(SuiteError) as e:
            load_suite(write_jsonl(tmp_path / "s.jsonl", rows))
        assert errors_of(e) == ['line 4: "answerable" must be true or false, got "maybe"']
        assert e.value.field == "suite"
        assert isinstance(e.value, InvalidInputError)

    def test_bad_answerable_in_csv(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "s.csv", ["question", "answerable"], [["a", "yes"], ["b", "sometimes"]])
        with pytest.raises(SuiteError) as e:
            load_suite(path)
        assert errors_of(e) == ['line 3: "answerable" must be true or false, got "sometimes"']

    def test_duplicate_id(self, tmp_path: Path) -> None:
        rows = [{"id": "q1", "question": "a"}, {"id": "q3", "question": "b"}] + [
            {"id": f"x{i}", "question": f"c{i}"} for i in range(4)
        ]
        rows.append({"id": "q3", "question": "d"})
        with pytest.raises(SuiteError) as e:
            load_suite(write_jsonl(tmp_path / "s.jsonl", rows))
        assert errors_of(e) == ['line 7: duplicate id "q3" (first on line 2)']

    def test_same_question_without_ids(self, tmp_path: Path) -> None:
        with pytest.raises(SuiteError) as e:
            load_suite(write_jsonl(tmp_path / "s.jsonl", [{"question": "Why?"}, {"question": "Why?"}]))
        assert errors_of(e) == ['line 2: the same question as line 1; give the rows different "id"s or drop one']

    def test_unknown_field_suggests_the_right_one(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "s.jsonl", [{"question": "a"}, {"question": "b", "refrence_answer": "x"}])
        with pytest.raises(SuiteError) as e:
            load_suite(path)
        (error,) = errors_of(e)
        assert error.startswith('line 2: unknown field "refrence_answer" (did you mean "reference_answer"?)')
        assert "allowed: id, question, reference_answer, reference_document_ids" in error

    def test_unknown_csv_column_is_reported_on_the_header(self, tmp_path: Path) -> None:
        with pytest.raises(SuiteError) as e:
            load_suite(write_csv(tmp_path / "s.csv", ["question", "tag"], [["a", "b"]]))
        (error,) = errors_of(e)
        assert error.startswith('line 1: unknown field "tag" (did you mean "tags"?); allowed: id, question')
        with pytest.raises(SuiteError) as e:
            load_suite(write_csv(tmp_path / "s.csv", ["Question", "notes", "owner"], [["a", "b", "c"]]))
        (error,) = errors_of(e)
        assert error.startswith('line 1: unknown field "Question" (did you mean "question"?)')
        assert error.endswith("(and 2 more unknown: notes, owner)")

    def test_csv_without_question_column(self, tmp_path: Path) -> None:
        with pytest.raises(SuiteError) as e:
            load_suite(write_csv(tmp_path / "s.csv", ["id"], [["a"]]))
        assert errors_of(e)[0].startswith('line 1: the header has no "question" column')

    def test_csv_row_with_extra_cells(self, tmp_path: Path) -> None:
        path = tmp_path / "s.csv"
        path.write_text("id,question\nq1,Why?\nq2,Is it, really?\n", encoding="utf-8")
        with pytest.raises(SuiteError) as e:
            load_suite(path)
        assert errors_of(e) == ["line 3: 1 more cell(s) than the header has columns (quote cells that hold commas)"]

    def test_csv_line_numbers_count_multiline_cells(self, tmp_path: Path) -> None:
        rows = [["q1", "first\nsecond line"], ["q2", ""]]
        with pytest.raises(SuiteError) as e:
            load_suite(write_csv(tmp_path / "s.csv", ["id", "question"], rows))
        assert errors_of(e) == ['line 4: "question" is empty']

    def test_csv_bad_json_list(self, tmp_path: Path) -> None:
        with pytest.raises(SuiteError) as e:
            load_suite(write_csv(tmp_path / "s.csv", ["question", "tags"], [["a", '["x", ']]))
        assert errors_of(e)[0].startswith('line 2: "tags" starts with "[" but is not a valid JSON array')

    def test_every_problem_of_every_row_is_listed(self, tmp_path: Path) -> None:
        rows: list[Any] = [
            {"question": "ok"},
            "{not json",
            ["a", "list"],
            {"id": "x"},
            {"question": 42, "tags": [1]},
            {"question": "x" * 4001},
            {"question": "c", "reference_contexts": "one passage"},
            {"question": "d", "reference_document_ids": {"a": 1}, "reference_answer": ["x"]},
        ]
        with pytest.raises(SuiteError) as e:
            load_suite(write_jsonl(tmp_path / "s.jsonl", rows))
        assert errors_of(e) == [
            "line 2: not valid JSON (Expecting property name enclosed in double quotes)",
            "line 3: expected a JSON object, got a list",
            'line 4: "question" is missing',
            'line 5: "question" must be a string, got number 42',
            'line 5: "tags" item 1 must be a string, got number 1',
            'line 6: "question" has 4,001 characters; the limit is 4,000',
            'line 7: "reference_contexts" must be a list of strings, got a string (write ["…"])',
            'line 8: "reference_answer" must be a string, got a list',
            'line 8: "reference_document_ids" must be a list of strings, got an object',
        ]
        assert str(e.value).startswith("s.jsonl: 9 problems\nline 2: not valid JSON")

    def test_question_of_4000_characters_is_fine(self, tmp_path: Path) -> None:
        assert load_suite(write_jsonl(tmp_path / "s.jsonl", [{"question": "x" * 4000}])).cases

    def test_max_rows(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "s.jsonl", [{"question": f"q{i}"} for i in range(4)])
        assert len(load_suite(path, max_rows=4).cases) == 4
        with pytest.raises(SuiteError) as e:
            load_suite(path, max_rows=3)
        assert errors_of(e) == ["line 4: the suite has more than 3 rows (the limit); split it into smaller suites"]


class TestSuiteError:
    def test_lists_the_first_50_then_counts_the_rest(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "s.jsonl", [{"question": ""} for _ in range(60)])
        with pytest.raises(SuiteError) as e:
            load_suite(path)
        assert len(errors_of(e)) == 60
        lines = str(e.value).splitlines()
        assert lines[0] == "s.jsonl: 60 problems"
        assert len(lines) == 1 + MAX_LISTED + 1 and lines[-1] == "… and 10 more"
        assert lines[MAX_LISTED] == 'line 50: "question" is empty'


class TestSuiteFromRows:
    def test_same_rules_and_id_as_a_file(self, tmp_path: Path) -> None:
        from_rows = suite_from_rows(ROWS, "api")
        assert from_rows.cases == load_suite(write_jsonl(tmp_path / "s.jsonl", ROWS)).cases
        assert from_rows.name == "api"

    def test_rows_are_numbered_from_one(self) -> None:
        rows = [{"id": "a", "question": "x"}, {"id": "a", "question": "y"}, {"question": "z", "answerable": 2}]
        with pytest.raises(SuiteError) as e:
            suite_from_rows(rows, "api")
        assert errors_of(e) == [
            'row 2: duplicate id "a" (first on row 1)',
            'row 3: "answerable" must be true or false, got number 2',
        ]

    def test_empty_and_wrong_types(self) -> None:
        with pytest.raises(SuiteError, match="no rows"):
            suite_from_rows([], "api")
        with pytest.raises(SuiteError, match="rows must be a list"):
            suite_from_rows({"question": "x"}, "api")  # type: ignore[arg-type]
        with pytest.raises(SuiteError, match="name must not be empty"):
            suite_from_rows([{"question": "x"}], " ")

    def test_max_rows(self) -> None:
        with pytest.raises(SuiteError, match="row 3: the suite has more than 2 rows"):
            suite_from_rows([{"question": str(i)} for i in range(5)], "api", max_rows=2)


class TestSuiteId:
    def test_content_hash_ignores_the_name(self) -> None:
        a, b = suite_from_rows(ROWS, "one"), suite_from_rows(ROWS, "two")
        assert a.id == b.id and a.id.startswith("s-") and len(a.id) == 18

    def test_any_change_changes_it(self) -> None:
        base = suite_from_rows(ROWS, "s").id
        changed = [dict(ROWS[0], reference_answer="26 days"), *ROWS[1:]]
        reordered = [ROWS[1], ROWS[0], ROWS[2]]
        assert suite_from_rows(changed, "s").id != base
        assert suite_from_rows(reordered, "s").id != base


class TestWriteSuite:
    def test_round_trip(self, tmp_path: Path) -> None:
        suite = suite_from_rows(ROWS, "trip")
        path = tmp_path / "out" / "trip.jsonl"
        write_suite(suite, path)
        assert load_suite(path) == suite
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 3
        assert json.loads(lines[1]) == {"id": "q2", "question": "Where can I park my car?", "answerable": False,
                                        "tags": ["unanswerable"]}  # fmt: skip

    def test_unicode_is_written_as_is(self, tmp_path: Path) -> None:
        suite = Suite("s-x", "zh", (SuiteCase("c1", "年假有多少天？", "25 天"),))
        write_suite(suite, tmp_path / "zh.jsonl")
        assert "年假" in (tmp_path / "zh.jsonl").read_text(encoding="utf-8")
        assert load_suite(tmp_path / "zh.jsonl").cases == suite.cases

    def test_only_jsonl(self, tmp_path: Path) -> None:
        with pytest.raises(SuiteError, match='must end in ".jsonl"'):
            write_suite(suite_from_rows(ROWS, "s"), tmp_path / "s.csv")


@pytest.fixture
def beir(tmp_path: Path) -> tuple[Path, Path]:
    queries = write_jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "1", "text": "Does aspirin reduce fever?"},
            {"_id": "2", "text": "Is coffee bad for the heart?"},
            {"_id": "3", "text": "Unjudged query"},
            {"_id": "4", "text": "Only negative judgements"},
        ],
    )
    (tmp_path / "qrels").mkdir()
    qrels = tmp_path / "qrels" / "test.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n2\td3\t1\n2\td2\t2\n4\td9\t0\n", encoding="utf-8")
    return queries, qrels


class TestImportBeir:
    def test_one_case_per_judged_query(self, beir: tuple[Path, Path]) -> None:
        suite = import_beir(*beir, name="tiny")
        assert [c.id for c in suite.cases] == ["1", "2"]
        assert suite.cases[0] == SuiteCase("1", "Does aspirin reduce fever?", None, ("d1",), (), True, ("beir",))
        assert suite.cases[1].reference_document_ids == ("d2", "d3")  # highest score first
        assert suite.name == "tiny" and suite.id == import_beir(*beir, name="other").id

    def test_limit(self, beir: tuple[Path, Path]) -> None:
        assert [c.id for c in import_beir(*beir, name="t", limit=1).cases] == ["1"]
        with pytest.raises(SuiteError, match="limit must be at least 1"):
            import_beir(*beir, name="t", limit=0)

    def test_no_judged_query(self, beir: tuple[Path, Path], tmp_path: Path) -> None:
        qrels = tmp_path / "none.tsv"
        qrels.write_text("query-id\tcorpus-id\tscore\n9\td1\t1\n", encoding="utf-8")
        with pytest.raises(SuiteError, match="no query of queries.jsonl has a judgement with score > 0"):
            import_beir(beir[0], qrels, name="t")

    def test_malformed_files(self, beir: tuple[Path, Path], tmp_path: Path) -> None:
        bad = write_jsonl(tmp_path / "bad.jsonl", [{"_id": "1", "text": "ok"}, {"id": "2"}])
        with pytest.raises(SuiteError, match="line 2 is not a query object"):
            import_beir(bad, beir[1], name="t")
        with pytest.raises(SuiteError, match="qrels file not found"):
            import_beir(beir[0], tmp_path / "missing.tsv", name="t")

    def test_empty_query_text_is_reported_by_query_id(self, beir: tuple[Path, Path], tmp_path: Path) -> None:
        queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "1", "text": " "}])
        with pytest.raises(SuiteError) as e:
            import_beir(queries, beir[1], name="t")
        assert errors_of(e) == ['query 1: "question" is empty']


HALU = [
    {"knowledge": "Paris is the capital of France.", "question": "What is the capital of France?",
     "right_answer": "Paris", "hallucinated_answer": "Lyon"},
    {"knowledge": "Water boils at 100 C at sea level.", "question": "At what temperature does water boil?",
     "right_answer": "100 C", "hallucinated_answer": "90 C"},
    {"knowledge": "The Rhine flows into the North Sea.", "question": "Where does the Rhine end?",
     "right_answer": "The North Sea", "hallucinated_answer": "The Baltic"},
    {"knowledge": "Mercury is the closest planet to the Sun.", "question": "Which planet is closest to the Sun?",
     "right_answer": "Mercury", "hallucinated_answer": "Venus"},
]  # fmt: skip


class TestImportHalueval:
    def test_rows_become_cases(self, tmp_path: Path) -> None:
        suite = import_halueval(write_jsonl(tmp_path / "h.jsonl", HALU), "halu")
        assert len(suite.cases) == 4 and suite.name == "halu"
        first = suite.cases[0]
        assert first.question == "What is the capital of France?" and first.reference_answer == "Paris"
        assert first.reference_contexts == ("Paris is the capital of France.",)
        assert first.tags == ("halueval",) and first.answerable and first.id.startswith("h-")
        again = import_halueval(write_jsonl(tmp_path / "again.jsonl", HALU), "x")
        assert again.id == suite.id

    def test_limit_and_repeated_rows(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "h.jsonl", [HALU[0], HALU[0], *HALU[1:]])
        assert len(import_halueval(path, "h").cases) == 4
        assert [c.reference_answer for c in import_halueval(path, "h", limit=2).cases] == ["Paris", "100 C"]

    def test_unanswerable_share(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "h.jsonl", HALU)
        suite = import_halueval(path, "h", unanswerable_share=0.5)
        unanswerable = [c for c in suite.cases if not c.answerable]
        assert len(unanswerable) == 2
        for c in unanswerable:
            assert c.reference_answer is None and c.reference_contexts == ()
            assert c.tags == ("halueval", "unanswerable")
        assert [c.id for c in import_halueval(path, "h", unanswerable_share=0.5).cases if not c.answerable] == [
            c.id for c in unanswerable
        ]
        with pytest.raises(SuiteError, match="unanswerable_share must be between 0 and 1"):
            import_halueval(path, "h", unanswerable_share=1.5)

    def test_bad_rows(self, tmp_path: Path) -> None:
        rows: list[Any] = [HALU[0], {"knowledge": "k", "question": " ", "right_answer": 3}, "nope", ["x"]]
        with pytest.raises(SuiteError) as e:
            import_halueval(write_jsonl(tmp_path / "h.jsonl", rows), "h")
        assert errors_of(e) == [
            "line 2: a HaluEval QA row needs non-empty strings knowledge, question, right_answer; bad: question, "
            "right_answer",
            "line 3: not valid JSON (Expecting value)",
            "line 4: expected a JSON object with knowledge, question and right_answer",
        ]

    def test_not_csv(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "h.csv", ["knowledge", "question", "right_answer"], [["k", "q", "a"]])
        with pytest.raises(SuiteError, match="JSONL"):
            import_halueval(path, "h")


class TestDemoSuite:
    """The committed example suite about the demo collection stays valid and quotes its documents verbatim."""

    def test_loads_and_quotes_the_demo_documents(self) -> None:
        suite = load_suite(DEMO_SUITE)
        assert 24 <= len(suite.cases) <= 30
        texts = {p.name: html.unescape(p.read_text(encoding="utf-8")) for p in DEMO_DIR.iterdir()}
        unanswerable = [c for c in suite.cases if not c.answerable]
        assert len(unanswerable) >= 5 and all(c.tags == ("unanswerable",) for c in unanswerable)
        for case in suite.cases:
            if not case.answerable:
                continue
            assert case.reference_answer and case.reference_contexts, case.id
            assert set(case.reference_document_ids) <= set(texts), case.id
            for context in case.reference_contexts:
                assert any(context in texts[d] for d in case.reference_document_ids), (case.id, context)


@pytest.mark.data
class TestRealData:
    def test_scifact_and_halueval(self, tmp_path: Path) -> None:
        scifact = shared_data("retrieval", "scifact")
        suite = import_beir(scifact / "queries_train.jsonl", scifact / "qrels" / "train.tsv", "scifact", limit=200)
        assert len(suite.cases) == 200 and all(c.reference_document_ids for c in suite.cases)
        halueval = shared_data("grounding", "halueval", "halueval_qa_dev.jsonl")
        halu = import_halueval(halueval, "halueval", limit=500, unanswerable_share=0.2)
        assert len(halu.cases) == 500 and sum(not c.answerable for c in halu.cases) == 100
        for s in (suite, halu):
            write_suite(s, tmp_path / f"{s.name}.jsonl")
            assert load_suite(tmp_path / f"{s.name}.jsonl") == s
