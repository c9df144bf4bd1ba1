from __future__ import annotations

import pytest

from app.adapters.embedders import HashEmbedder
from app.answer.citations import build_citations, cited_numbers, sentences_with_citations
from app.answer.generator import ExtractiveGenerator
from app.answer.service import AnswerService
from app.core.domain import Chunk, Query, Retrieval, ScoredChunk
from app.core.errors import InvalidInputError
from app.core.grounding import Passage


def passage(n: int, text: str, dense: float = 0.8) -> Passage:
    c = Chunk(f"c{n}", f"d{n}", "t", "c", f"doc{n}.txt", text, 0, 0, len(text), "h", "v", page=n)
    return Passage(n, ScoredChunk(c, 1.0 / n, dense_score=dense, rank=n))


class TestCitations:
    def test_only_real_passages_become_citations(self) -> None:
        ps = [passage(1, "One."), passage(2, "Two.")]
        cits = build_citations("A [2]. B [1][2]. C [7].", ps)
        assert [c.n for c in cits] == [2, 1]
        assert cits[0].external_id == "doc2.txt" and cits[0].page == 2
        assert cited_numbers("x [3] y [3] [12]") == [3, 12]

    def test_sentences_carry_their_numbers(self) -> None:
        assert sentences_with_citations("First claim [1]. Second [2][3].") == [
            ("First claim [1].", [1]),
            ("Second [2][3].", [2, 3]),
        ]
        assert sentences_with_citations("Dangling. [4]") == [("Dangling. [4]", [4])]


class TestExtractiveGenerator:
    def test_invalid_construction(self) -> None:
        with pytest.raises(ValueError):
            ExtractiveGenerator(HashEmbedder(), max_sentences=0)

    def test_quotes_best_sentences_with_citations(self) -> None:
        ps = [
            passage(1, "The office has a canteen. Employees get 25 days of annual leave per year."),
            passage(2, "Laptops are encrypted. Passwords need 14 characters."),
        ]
        gen = ExtractiveGenerator(HashEmbedder(dim=256), max_sentences=1, sentence_floor=0.1)
        out = gen.generate("How many days of annual leave do employees get per year?", ps)
        assert not out.abstained
        assert out.text == "Employees get 25 days of annual leave per year [1]."

    def test_every_answer_sentence_is_a_verbatim_passage_sentence(self) -> None:
        ps = [passage(1, "Alpha beta gamma delta epsilon. Zeta eta theta iota kappa.")]
        out = ExtractiveGenerator(HashEmbedder(dim=256), max_sentences=3, sentence_floor=-1).generate("alpha zeta", ps)
        for sentence, ns in sentences_with_citations(out.text):
            assert ns == [1] and sentence.replace(" [1]", "") in ps[0].text

    def test_abstains_when_nothing_is_similar(self) -> None:
        gen = ExtractiveGenerator(HashEmbedder(dim=256), sentence_floor=0.5)
        assert gen.generate("quantum chromodynamics", [passage(1, "Lunch is served at noon daily.")]).abstained


class FakeRetriever:
    def __init__(self, chunks: list[ScoredChunk]) -> None:
        self.chunks = chunks

    def run(self, query: Query) -> Retrieval:
        return Retrieval(query, tuple(self.chunks))


class TestAnswerService:
    def service(self, dense: float) -> AnswerService:
        p = passage(1, "Employees get 25 days of annual leave per year.", dense)
        gen = ExtractiveGenerator(HashEmbedder(dim=256), sentence_floor=0.1)
        return AnswerService(FakeRetriever([p.chunk]), gen, evidence_floor=0.4)  # type: ignore[arg-type]

    def test_answers_with_citations_when_evidence_is_strong(self) -> None:
        a = self.service(0.7).answer(Query("How many days of annual leave per year?", "c"))
        assert not a.refused and a.citations[0].chunk_id == "c1" and a.support == 1.0 and "[1]" in a.answer

    def test_refuses_below_evidence_floor_with_reason(self) -> None:
        a = self.service(0.2).answer(Query("How many days of annual leave per year?", "c"))
        assert a.refused and "evidence floor" in (a.reason or "") and a.citations == ()

    def test_refuses_when_nothing_retrieved(self) -> None:
        svc = AnswerService(FakeRetriever([]), ExtractiveGenerator(HashEmbedder()))  # type: ignore[arg-type]
        a = svc.answer(Query("anything", "c"))
        assert a.refused and "no passage" in (a.reason or "")

    def test_empty_question_is_an_input_error(self) -> None:
        with pytest.raises(InvalidInputError):
            self.service(0.7).answer(Query("   ", "c"))
