"""`grounded eval verify`: suite formats, row-numbered errors, answer scoring, figures, the report and the CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.core.errors import InvalidInputError
from app.core.grounding import Support
from eval.verify_suite import (
    HALLUCINATED,
    SUPPORTED,
    auroc,
    format_verify_report,
    load_verify_suite,
    run_verify_suite,
    score_answer,
)

REQUIRED = {
    "balanced_accuracy",
    "precision_hallucinated",
    "recall_hallucinated",
    "f1_hallucinated",
    "auroc",
    "latency_ms_p50",
    "rows",
}
KNOWLEDGE = "The Harbor Lantern Group is a hotel company with its head office in Lisbon. It was founded in 1934."
ROWS = [
    {"question": "Where is the head office?", "contexts": [KNOWLEDGE], "answer": "Lisbon.", "label": "supported"},
    {"question": "Where is the head office?", "contexts": KNOWLEDGE, "answer": "It is in Porto.", "label": 0},
    {
        "question": "When was it founded?",
        "contexts": ["Nothing useful here.", KNOWLEDGE],
        "answer": "It was founded in 1934. Its head office is in Lisbon.",
        "label": 1,
    },
    {
        "question": "When was it founded?",
        "contexts": [KNOWLEDGE],
        "answer": "It was founded in 1934. It has 90 hotels.",
        "label": "hallucinated",
    },
]
HALUEVAL_ROW = {
    "knowledge": KNOWLEDGE,
    "question": "Where is the head office of the Harbor Lantern Group?",
    "right_answer": "Lisbon",
    "hallucinated_answer": "The head office is in Porto.",
}


class WordVerifier:
    """A scripted fake: a claim is supported when all its words occur in the evidence (score = share found)."""

    name = "words"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def warm_up(self) -> None:
        return None

    def support(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[Support]:
        self.calls.append(len(pairs))
        out = []
        for claim, evidence in pairs:
            words = [w.strip(".,").lower() for w in claim.split()]
            found = sum(w in evidence.lower() for w in words) / max(len(words), 1)
            out.append(Support(found, found == 1.0, "" if found == 1.0 else "missing words"))
        return out


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


class TestLoad:
    def test_generic_rows_and_labels(self, tmp_path: Path) -> None:
        rows = load_verify_suite(write_jsonl(tmp_path / "s.jsonl", ROWS))
        assert [r.label for r in rows] == [SUPPORTED, HALLUCINATED, SUPPORTED, HALLUCINATED]
        assert rows[1].contexts == (KNOWLEDGE,) and rows[2].contexts == ("Nothing useful here.", KNOWLEDGE)
        assert [r.line for r in rows] == [1, 2, 3, 4]

    def test_halueval_row_gives_two_answers(self, tmp_path: Path) -> None:
        rows = load_verify_suite(write_jsonl(tmp_path / "h.jsonl", [HALUEVAL_ROW, ROWS[0]]))
        assert [(r.line, r.label, r.answer) for r in rows[:2]] == [
            (1, SUPPORTED, "Lisbon"),
            (1, HALLUCINATED, "The head office is in Porto."),
        ]
        assert rows[0].contexts == (KNOWLEDGE,) and len(rows) == 3

    def test_csv_with_a_json_list_of_contexts(self, tmp_path: Path) -> None:
        path = tmp_path / "s.csv"
        cell = json.dumps(["Nothing here.", KNOWLEDGE]).replace('"', '""')
        path.write_text(
            f'question,contexts,answer,label\nWhere?,"{cell}",Lisbon.,supported\nWhere?,"{KNOWLEDGE}",Porto.,0\n',
            encoding="utf-8",
        )
        rows = load_verify_suite(path)
        assert rows[0].contexts == ("Nothing here.", KNOWLEDGE) and rows[1].contexts == (KNOWLEDGE,)
        assert [r.line for r in rows] == [2, 3]

    def test_bad_rows_are_rejected_with_their_line_numbers(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.jsonl"
        path.write_text(
            "\n".join(
                [
                    json.dumps(ROWS[0]),
                    "{not json",
                    "",
                    json.dumps({**ROWS[0], "label": "maybe"}),
                    json.dumps({**ROWS[0], "answer": "  "}),
                    json.dumps({**ROWS[0], "contexts": [1, 2]}),
                    json.dumps({**HALUEVAL_ROW, "hallucinated_answer": ""}),
                    "[1, 2]",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        with pytest.raises(InvalidInputError) as e:
            load_verify_suite(path)
        message = str(e.value)
        for line, what in [
            (2, "not valid JSON"),
            (4, "label must be"),
            (5, "answer must be"),
            (6, "contexts must hold strings"),
            (7, "HaluEval row: hallucinated_answer"),
            (8, "not an object"),
        ]:
            assert f"bad.jsonl: line {line}: {what}" in message
        assert "line 1:" not in message

    def test_csv_header_is_checked(self, tmp_path: Path) -> None:
        path = tmp_path / "s.csv"
        path.write_text("text,label\nx,1\n", encoding="utf-8")
        with pytest.raises(InvalidInputError, match="line 1: the header needs"):
            load_verify_suite(path)

    def test_missing_and_empty_files(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInputError, match="not found"):
            load_verify_suite(tmp_path / "none.jsonl")
        (tmp_path / "e.jsonl").write_text("\n", encoding="utf-8")
        with pytest.raises(InvalidInputError, match="no rows"):
            load_verify_suite(tmp_path / "e.jsonl")

    def test_limit_samples_deterministically(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path / "s.jsonl", ROWS * 5)
        first = load_verify_suite(path, limit=6, seed=1)
        assert len(first) == 6 and first == load_verify_suite(path, limit=6, seed=1)
        assert [r.line for r in first] == sorted(r.line for r in first)


class TestScoring:
    def test_answer_is_its_weakest_sentence_at_its_best_context(self) -> None:
        fake = WordVerifier()
        verdict = score_answer(fake, "q", ["Nothing useful.", KNOWLEDGE], "It was founded in 1934. It has 90 hotels.")
        assert fake.calls == [4]  # one batched call: 2 sentences × 2 contexts
        assert not verdict.supported and verdict.sentence == "It has 90 hotels."
        supported = score_answer(fake, "q", ["Nothing useful.", KNOWLEDGE], "It was founded in 1934.")
        assert supported.supported and supported.score == 1.0

    def test_auroc(self) -> None:
        assert auroc([0.9, 0.8, 0.3, 0.1], [True, True, False, False]) == 1.0
        assert auroc([0.5, 0.5], [True, False]) == 0.5
        assert auroc([0.1, 0.2], [True, True]) is None

    def test_figures_and_report(self, tmp_path: Path) -> None:
        result = run_verify_suite(write_jsonl(tmp_path / "s.jsonl", ROWS), WordVerifier())
        assert REQUIRED <= set(result) and result["rows"] == 4 and result["n_failed"] == 0
        assert result["balanced_accuracy"] == 1.0 and result["recall_hallucinated"] == 1.0
        assert result["auroc"] == 1.0 and result["counts"] == {"supported": 2, "hallucinated": 2}
        report = format_verify_report(result)
        assert report.startswith("Verify suite: 4 answers") and "1.000" in report

    def test_a_failing_verifier_is_counted_not_fatal(self, tmp_path: Path) -> None:
        class Broken(WordVerifier):
            def support(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[Support]:
                if "Porto" in pairs[0][0]:
                    raise TimeoutError("judge timed out")
                return super().support(question, pairs)

        result = run_verify_suite(write_jsonl(tmp_path / "s.jsonl", ROWS), Broken())
        assert result["rows"] == 3 and result["n_failed"] == 1
        assert result["failures"][0]["line"] == 2 and "timed out" in result["failures"][0]["error"]

    def test_fast_verifier_on_a_halueval_row(self, tmp_path: Path) -> None:
        from app.verify.fast import FastVerifier

        result = run_verify_suite(write_jsonl(tmp_path / "h.jsonl", [HALUEVAL_ROW]), FastVerifier())
        assert result["rows"] == 2 and result["balanced_accuracy"] == 1.0


class TestCli:
    def test_json_output(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        from app.cli import main

        path = write_jsonl(tmp_path / "s.jsonl", [HALUEVAL_ROW, *ROWS])
        assert main(["eval", "verify", "--suite", str(path), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert REQUIRED <= set(data) and data["rows"] == 6 and data["verifier"] == "fast"

    def test_text_output_with_limit(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        from app.cli import main

        path = write_jsonl(tmp_path / "s.jsonl", ROWS)
        assert main(["eval", "verify", "--suite", str(path), "--limit", "2"]) == 0
        assert capsys.readouterr().out.startswith("Verify suite: 2 answers")

    def test_errors(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        from app.cli import main

        assert main(["eval", "verify", "--suite", str(tmp_path / "none.jsonl")]) == 2
        assert "no such suite file" in capsys.readouterr().err
        path = write_jsonl(tmp_path / "s.jsonl", [{"question": "q"}])
        assert main(["eval", "verify", "--suite", str(path)]) == 2
        assert "line 1: answer must be" in capsys.readouterr().err
        monkeypatch.setenv("GROUNDED_MODELS__LLM", "none")
        path = write_jsonl(tmp_path / "ok.jsonl", ROWS)
        assert main(["eval", "verify", "--suite", str(path), "--verifier", "llm"]) == 2
        assert "--verifier llm needs a chat model" in capsys.readouterr().err
