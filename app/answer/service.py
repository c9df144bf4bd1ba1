"""AnswerService — the ONE place the answer stage order is written:

validate → input guard → FAQ override → retrieve (pre-filtered hybrid) → evidence gate → passage screen → generate
→ verify + repair (sentence by sentence) → output guard → citations, support, label, signed provenance.

`answer()` returns the final `Answer`; `stream()` yields the verified sentences as they are produced and then the
final answer. Both run the same stages (`answer()` drains `stream()`), so they cannot disagree.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

from app.answer.citations import build_citations
from app.answer.gate import EvidenceGate
from app.answer.guarding import AnswerGuards
from app.answer.guidelines import GuidelineBook
from app.answer.provenance import ProvenanceSigner
from app.answer.run import AnswerRun
from app.answer.verification import AnswerVerification, render
from app.answer.writer import SentenceStream
from app.core.domain import Query
from app.core.errors import InvalidInputError
from app.core.grounding import Answer, Guidelines, Passage, SentenceVerdict
from app.core.ports import Generator
from retrievers.service import RetrievalService

log = logging.getLogger(__name__)

NOT_FOUND = "The knowledge base does not contain an answer to this question."


class FaqMatcher(Protocol):
    def match(self, tenant: str, collection: str, question: str) -> Any | None: ...

    def record_hit(self, entry_id: str) -> None: ...


@dataclass(frozen=True)
class AnswerEvent:
    """`kind` "sentence": `data` is {"text", "citations", "supported", "score"}; "final": `answer` is set."""

    kind: str
    data: dict[str, Any] | None = None
    answer: Answer | None = None


class AnswerService:
    """Answers from the documents or refuses with a reason. Refusal is a value (`Answer.refused`), not an error.

    Usage::

        service = AnswerService(retriever, ExtractiveGenerator(embedder), verification=AnswerVerification(fast))
        answer = service.answer(Query("How long is the refund window?", collection="policies"))
        for event in service.stream(query): ...
    """

    def __init__(
        self,
        retriever: RetrievalService,
        generator: Generator,
        evidence_floor: float = 0.40,
        passages: int = 5,
        max_question_chars: int = 4000,
        guards: AnswerGuards | None = None,
        *,
        gate: EvidenceGate | None = None,
        verification: AnswerVerification | None = None,
        min_support: float = 0.5,
        guidelines: GuidelineBook | None = None,
        signer: ProvenanceSigner | None = None,
        faq: FaqMatcher | None = None,
        label_text: str = "AI-generated answer based on your documents; check the cited passages.",
        visible_label: bool = False,
    ) -> None:
        if passages < 1:
            raise ValueError("passages must be >= 1")
        self.retriever, self.generator = retriever, generator
        self.evidence_floor, self.passages, self.max_question_chars = evidence_floor, passages, max_question_chars
        self.guards, self.gate, self.verification = guards, gate, verification
        self.min_support = min_support
        self.guidelines = guidelines or GuidelineBook()
        self.signer, self.faq = signer, faq
        self.label_text, self.visible_label = label_text, visible_label
        # Called with every final answer (live-scoring sampler): must be O(1) and never raise into the request.
        self.observers: list[Callable[[Query, Answer], Any]] = []

    def warm_up(self) -> None:
        """Load the generator and the verifier at start-up, not on the first question."""
        self.generator.warm_up()
        if self.verification is not None:
            self.verification.verifier.warm_up()

    def answer(self, query: Query) -> Answer:
        final = None
        for event in self.stream(query):
            final = event.answer or final
        assert final is not None  # stream() always ends with a final event
        return final

    def stream(self, query: Query) -> Iterator[AnswerEvent]:
        """Validates now (bad input raises before any event), then runs the stages as the events are consumed."""
        question = query.text.strip()
        if not question:
            raise InvalidInputError("question must not be empty", "question")
        if len(question) > self.max_question_chars:
            raise InvalidInputError(f"question is longer than {self.max_question_chars} characters", "question")
        return self._stages(AnswerRun(query, question, str(uuid.uuid4())))

    # -- the stages ------------------------------------------------------------------------------------------------
    def _stages(self, run: AnswerRun) -> Iterator[AnswerEvent]:
        guidelines: Guidelines | None = None
        if self.guards is not None:
            with run.timed("guard_input"):
                verdict = self.guards.check_input(run.question, run.query.tenant)
            run.guard["input"] = verdict.info
            if verdict.blocked:  # no retrieval, no model call: a safe reply and the reason
                yield self._final(run, Answer(run.question, verdict.reply, True, verdict.reason, source="none"))
                return
            guidelines = self.guidelines.for_categories(verdict.guided)
            run.notices = (guidelines.disclaimer,) if guidelines and guidelines.disclaimer else ()
        if self.faq is not None:
            with run.timed("faq"):
                hit = self.faq.match(run.query.tenant, run.query.collection, run.question)
            if hit is not None:
                self.faq.record_hit(hit.entry_id)
                yield self._faq_answer(run, hit)
                return
        with run.timed("retrieve"):
            retrieval = self.retriever.run(replace(run.query, text=run.question, top_k=max(run.query.top_k, 1)))
        if retrieval.plan is not None and not retrieval.plan.retrieve:
            intent = retrieval.intent.intent.value if retrieval.intent else "unknown"
            yield self._refusal(run, f"the question is {intent.replace('_', ' ')}, not about the documents")
            return
        if self.gate is not None:
            with run.timed("gate"):
                decision = self.gate.decide(run.question, retrieval)
            run.gate = decision.to_dict()
            if not decision.passed:
                yield self._refusal(run, decision.reason)
                return
        elif not retrieval.chunks or retrieval.top_dense < self.evidence_floor:
            reason = (
                "no passage in the collection matches the question"
                if not retrieval.chunks
                else f"best passage similarity {retrieval.top_dense:.2f} is below the evidence floor "
                f"{self.evidence_floor:.2f}"
            )
            yield self._refusal(run, reason)
            return
        chosen = list(retrieval.chunks[: self.passages])
        if self.guards is not None:
            chosen, dropped = self.guards.screen(chosen)
            if dropped:
                run.guard["quarantined"] = dropped
            if not chosen:
                yield self._refusal(run, "every matching passage was quarantined")
                return
        run.passages = tuple(Passage(n=i + 1, chunk=c) for i, c in enumerate(chosen))
        yield from self._generate(run, guidelines)

    def _generate(self, run: AnswerRun, guidelines: Guidelines | None) -> Iterator[AnswerEvent]:
        texts = {p.n: p.text for p in run.passages}
        pieces = SentenceStream()
        verdicts: list[SentenceVerdict] = []
        t = time.perf_counter()
        stream = self.generator.stream(run.question, run.passages, guidelines)
        try:
            for sentence, cited in _sentences(stream, pieces):
                event = self._sentence(run, sentence, cited, texts, verdicts)
                if event is not None:
                    yield event
                if run.withheld:
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # stops an LLM that is still writing
        total = (time.perf_counter() - t) * 1000
        run.timings["generate"] = round(total - run.timings.get("verify", 0.0) - run.timings.get("guard_output", 0), 2)
        model = self.generator.name
        if run.withheld:
            yield self._refusal(run, "withheld by the output guard", model)
            return
        if pieces.abstained or not verdicts:
            yield self._refusal(run, "the passages do not contain the answer (the generator abstained)", model)
            return
        kept = [v for v in verdicts if v.kept]
        support = sum(v.supported for v in verdicts) / len(verdicts)
        if support < self.min_support or not kept:
            n_ok = sum(v.supported for v in verdicts)
            reason = f"only {n_ok} of {len(verdicts)} answer sentences are supported by the passages"
            yield self._refusal(run, reason, model, tuple(verdicts), support)
            return
        text = " ".join(run.shown[i] for i, v in enumerate(verdicts) if v.kept)
        if self.visible_label:
            text = f"{text}\n\n{self.label_text}"
        citations = build_citations(text, run.passages)
        answer = Answer(
            question=run.question,
            answer=text,
            refused=False,
            reason=None,
            citations=citations,
            model=model,
            support=round(support, 3),
            passages=run.passages,
            verdicts=tuple(verdicts),
            repaired=any(v.corrected or not v.supported for v in verdicts),
            label={"ai_generated": True, "text": self.label_text, "generator": model},
        )
        yield self._final(run, answer)

    def _sentence(
        self, run: AnswerRun, sentence: str, cited: tuple[int, ...], texts: dict[int, str], verdicts: list
    ) -> AnswerEvent | None:
        """Verify one finished sentence, guard it, remember it; the event to stream if it is shown."""
        t = time.perf_counter()
        if self.verification is not None:
            verdict = self.verification.check([(sentence, cited)], run.question, texts)[0]
        else:
            verdict = SentenceVerdict(sentence, cited, tuple(n for n in cited if n in texts), bool(cited), 1.0)
        run.add_time("verify", t)
        shown = render(verdict)
        if verdict.kept and self.guards is not None:
            t = time.perf_counter()
            filtered, info = self.guards.filter_output(shown, run.query.tenant)
            run.add_time("guard_output", t)
            run.guard.setdefault("output", {"redacted": [], "links_neutralised": 0})
            out = run.guard["output"]
            out["redacted"] = sorted(set(out["redacted"]) | set(info.get("redacted", [])))
            out["links_neutralised"] += info.get("links_neutralised", 0)
            if filtered is None:
                out["output"] = info.get("output")
                run.withheld = True
                return None
            shown = filtered
        verdicts.append(verdict)
        run.shown.append(shown)
        if not verdict.kept:
            return None
        data = {"text": shown, "citations": list(verdict.citations), "supported": verdict.supported}
        return AnswerEvent("sentence", {**data, "score": round(verdict.score, 4)})

    # -- endings ---------------------------------------------------------------------------------------------------
    def _refusal(
        self, run: AnswerRun, reason: str, model: str = "", verdicts: tuple = (), support: float = 0.0
    ) -> AnswerEvent:
        answer = Answer(
            run.question,
            NOT_FOUND,
            True,
            reason,
            model=model,
            verdicts=verdicts,
            support=round(support, 3),
            source="none",
            passages=run.passages,
        )
        return self._final(run, answer)

    def _faq_answer(self, run: AnswerRun, hit: Any) -> AnswerEvent:
        faq = {"entry_id": hit.entry_id, "question": hit.question, "version": hit.version, "score": round(hit.score, 4)}
        answer = Answer(
            run.question,
            hit.answer,
            False,
            None,
            model="faq",
            support=1.0,
            source="faq",
            faq=faq,
            label={"ai_generated": False, "text": "Approved answer from the standard Q&A library.", "generator": "faq"},
        )
        return self._final(run, answer)

    def _final(self, run: AnswerRun, answer: Answer) -> AnswerEvent:
        answer = replace(
            answer,
            timings_ms=run.timings,
            guard=run.guard,
            notices=() if answer.refused else run.notices,
            gate=run.gate,
            request_id=run.request_id,
            label=answer.label or {"ai_generated": False, "text": "Refusal by the grounding service.", "generator": ""},
        )
        if self.signer is not None:
            provenance = self.signer.sign_answer(
                answer.answer,
                request_id=run.request_id,
                generator=self.generator.name if answer.source == "documents" else answer.source,
                model=answer.model,
                tenant=run.query.tenant,
                collection=run.query.collection,
                source=answer.source,
                citations=answer.citations,
                ai_generated=bool(answer.label.get("ai_generated")),
            )
            answer = replace(answer, provenance=provenance)
        for observe in self.observers:
            try:
                observe(run.query, answer)
            except Exception:  # an observer fault must not cost the caller the answer
                log.exception("answer observer failed")
        return AnswerEvent("final", answer=answer)


def _sentences(stream: Iterator[str], pieces: SentenceStream) -> Iterator[tuple[str, tuple[int, ...]]]:
    for delta in stream:
        yield from pieces.feed(delta)
        if pieces.abstained:
            return
    yield from pieces.close()
