"""AnswerService.answer(question) — the ONE place the query stage order is written:

validate → input guard → retrieve (pre-filtered hybrid) → evidence gate → number passages → generate → output guard
→ citations → support.
"""

from __future__ import annotations

import time

from app.answer.citations import build_citations, sentences_with_citations
from app.answer.guarding import AnswerGuards
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
        guards: AnswerGuards | None = None,
    ) -> None:
        if passages < 1:
            raise ValueError("passages must be >= 1")
        self.retriever = retriever
        self.generator = generator
        self.evidence_floor = evidence_floor
        self.passages = passages
        self.max_question_chars = max_question_chars
        self.guards = guards

    def answer(self, query: Query) -> Answer:
        question = query.text.strip()
        if not question:
            raise InvalidInputError("question must not be empty", "question")
        if len(question) > self.max_question_chars:
            raise InvalidInputError(f"question is longer than {self.max_question_chars} characters", "question")
        timings: dict[str, float] = {}
        guard: dict = {}
        notices: tuple[str, ...] = ()
        if self.guards is not None:
            t = time.perf_counter()
            verdict = self.guards.check_input(question, query.tenant)
            timings["guard_input"] = _ms(t)
            guard["input"] = verdict.info
            if verdict.blocked:  # no retrieval, no model call: a safe reply and the reason
                return Answer(question, verdict.reply, True, verdict.reason, timings_ms=timings, guard=guard)
            notices = verdict.notices
        t = time.perf_counter()
        retrieval = self.retriever.run(Query(**{**query.__dict__, "text": question, "top_k": max(query.top_k, 1)}))
        timings["retrieve"] = _ms(t)
        if retrieval.plan is not None and not retrieval.plan.retrieve:
            intent = retrieval.intent.intent.value if retrieval.intent else "unknown"
            return self._refusal(
                question, f"the question is {intent.replace('_', ' ')}, not about the documents", timings, guard=guard
            )
        if not retrieval.chunks or retrieval.top_dense < self.evidence_floor:
            reason = (
                "no passage in the collection matches the question"
                if not retrieval.chunks
                else f"best passage similarity {retrieval.top_dense:.2f} is below the evidence floor "
                f"{self.evidence_floor:.2f}"
            )
            return self._refusal(question, reason, timings, guard=guard)
        chosen = list(retrieval.chunks[: self.passages])
        if self.guards is not None:
            chosen, dropped = self.guards.screen(chosen)
            if dropped:
                guard["quarantined"] = dropped
            if not chosen:
                return self._refusal(question, "every matching passage was quarantined", timings, guard=guard)
        passages = tuple(Passage(n=i + 1, chunk=c) for i, c in enumerate(chosen))
        t = time.perf_counter()
        generation = self.generator.generate(question, passages)
        timings["generate"] = _ms(t)
        if generation.abstained or not generation.text.strip():
            return self._refusal(question, "no passage sentence answers the question", timings, generation.model, guard)
        text = generation.text
        if self.guards is not None:
            t = time.perf_counter()
            shown, out_info = self.guards.filter_output(text, query.tenant)
            timings["guard_output"] = _ms(t)
            guard["output"] = out_info
            if shown is None:
                return self._refusal(question, "withheld by the output guard", timings, generation.model, guard)
            text = shown
        citations = build_citations(text, passages)
        valid = {c.n for c in citations}
        sentences = sentences_with_citations(text)
        supported = sum(1 for _, ns in sentences if ns and set(ns) <= valid)
        support = supported / len(sentences) if sentences else 0.0
        return Answer(
            question=question,
            answer=text,
            refused=False,
            reason=None,
            citations=citations,
            model=generation.model,
            support=round(support, 3),
            passages=passages,
            timings_ms=timings,
            notices=notices,
            guard=guard,
        )

    def _refusal(
        self, question: str, reason: str, timings: dict[str, float], model: str = "", guard: dict | None = None
    ) -> Answer:
        return Answer(question, NOT_FOUND, True, reason, model=model, timings_ms=timings, guard=guard or {})


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
