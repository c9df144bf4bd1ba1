"""AnswerService.answer(question) — the ONE place the query stage order is written:

validate → retrieve (pre-filtered hybrid) → evidence gate → number passages → generate → citations → support.
"""

from __future__ import annotations

import time

from app.answer.citations import build_citations, sentences_with_citations
from app.core.domain import Answer, Passage, Query
from app.core.errors import InvalidInputError
from app.core.ports import Generator
from retrievers.service import RetrievalService

NOT_FOUND = "The knowledge base does not contain an answer to this question."


class AnswerService:
    """Answers from the documents or refuses with a reason. Refusal is a value (`Answer.refused`), not an error.

    Usage::

        service = AnswerService(retriever, ExtractiveGenerator(embedder))
        answer = service.answer(Query("How long is the refund window?", collection="policies"))
    """

    def __init__(
        self,
        retriever: RetrievalService,
        generator: Generator,
        evidence_floor: float = 0.40,
        passages: int = 5,
        max_question_chars: int = 4000,
    ) -> None:
        if passages < 1:
            raise ValueError("passages must be >= 1")
        self.retriever = retriever
        self.generator = generator
        self.evidence_floor = evidence_floor
        self.passages = passages
        self.max_question_chars = max_question_chars

    def answer(self, query: Query) -> Answer:
        question = query.text.strip()
        if not question:
            raise InvalidInputError("question must not be empty", "question")
        if len(question) > self.max_question_chars:
            raise InvalidInputError(f"question is longer than {self.max_question_chars} characters", "question")
        timings: dict[str, float] = {}
        t = time.perf_counter()
        retrieval = self.retriever.run(Query(**{**query.__dict__, "text": question, "top_k": max(query.top_k, 1)}))
        timings["retrieve"] = _ms(t)
        if retrieval.plan is not None and not retrieval.plan.retrieve:
            intent = retrieval.intent.intent.value if retrieval.intent else "unknown"
            return self._refusal(
                question, f"the question is {intent.replace('_', ' ')}, not about the documents", timings
            )
        if not retrieval.chunks or retrieval.top_dense < self.evidence_floor:
            reason = (
                "no passage in the collection matches the question"
                if not retrieval.chunks
                else f"best passage similarity {retrieval.top_dense:.2f} is below the evidence floor "
                f"{self.evidence_floor:.2f}"
            )
            return self._refusal(question, reason, timings)
        passages = tuple(Passage(n=i + 1, chunk=c) for i, c in enumerate(retrieval.chunks[: self.passages]))
        t = time.perf_counter()
        generation = self.generator.generate(question, passages)
        timings["generate"] = _ms(t)
        if generation.abstained or not generation.text.strip():
            return self._refusal(question, "no passage sentence answers the question", timings, generation.model)
        citations = build_citations(generation.text, passages)
        valid = {c.n for c in citations}
        sentences = sentences_with_citations(generation.text)
        supported = sum(1 for _, ns in sentences if ns and set(ns) <= valid)
        support = supported / len(sentences) if sentences else 0.0
        return Answer(
            question=question,
            answer=generation.text,
            refused=False,
            reason=None,
            citations=citations,
            model=generation.model,
            support=round(support, 3),
            passages=passages,
            timings_ms=timings,
        )

    def _refusal(self, question: str, reason: str, timings: dict[str, float], model: str = "") -> Answer:
        return Answer(question=question, answer=NOT_FOUND, refused=True, reason=reason, model=model, timings_ms=timings)


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
