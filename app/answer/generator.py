"""The extractive generator (default): the answer is sentences quoted from the passages, each cited.

It cannot invent anything: every word of its answer is a sentence of a numbered passage.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.answer.citations import attach_citations
from app.core.grounding import ABSTAIN, Generation, Guidelines, Passage
from app.core.ports import Embedder
from app.core.text import sentence_spans, terms


@dataclass(frozen=True)
class _Candidate:
    n: int
    order: int
    text: str
    score: float


class ExtractiveGenerator:
    """Picks the passage sentences that best answer the question: a blend of embedding similarity to the question
    and coverage of the question's content words. Abstains when no sentence reaches `sentence_floor`.

    Usage::

        gen = ExtractiveGenerator(embedder, max_sentences=3)
        out = gen.generate("How long is the refund window?", passages)   # "Returns ... 30 days. [1]"
    """

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        max_sentences: int = 3,
        sentence_floor: float = 0.30,
        lexical_weight: float = 0.3,
        margin: float = 0.12,
        shortlist: int = 4,
    ) -> None:
        if max_sentences < 1:
            raise ValueError("max_sentences must be >= 1")
        if not 0 <= lexical_weight <= 1:
            raise ValueError("lexical_weight must be within [0, 1]")
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.sentence_floor = sentence_floor
        self.lexical_weight = lexical_weight
        self.margin = margin
        self.shortlist = max(shortlist, max_sentences)

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def stream(self, question: str, passages: Sequence[Passage], guidelines: Guidelines | None = None) -> Iterator[str]:
        """Quotes come all at once: the whole answer is one piece (or the abstain sentinel)."""
        out = self.generate(question, passages, guidelines)
        yield ABSTAIN if out.abstained else out.text

    def generate(self, question: str, passages: Sequence[Passage], guidelines: Guidelines | None = None) -> Generation:
        """`guidelines` do not change what is quoted (quotes cannot give advice); the service adds the disclaimer."""
        sentences: list[tuple[int, int, str]] = []
        for p in passages:
            for order, (s, e) in enumerate(sentence_spans(p.text)):
                text = p.text[s:e].strip()
                if len(text) >= 15 and any(ch.isalnum() for ch in text):
                    sentences.append((p.n, order, text))
        if not sentences:
            return Generation(text="", model=self.name, abstained=True)
        q_terms = terms(question)
        dense = {p.n: p.chunk.dense_score or 0.0 for p in passages}
        overlaps = [len(q_terms & terms(t)) / len(q_terms) if q_terms else 0.0 for _, _, t in sentences]
        # Embedding every sentence of every passage costs ~10 ms each on a CPU: a cheap shortlist (lexical overlap
        # and the passage's own similarity) picks the few that are embedded and scored for real.
        order = sorted(range(len(sentences)), key=lambda i: overlaps[i] + dense[sentences[i][0]], reverse=True)[
            : self.shortlist
        ]
        q_vec = self.embedder.embed_query(question)
        vecs = self.embedder.embed_batch([sentences[i][2] for i in order])
        cands = []
        for i, v in zip(order, vecs, strict=True):
            n, pos, text = sentences[i]
            sim = sum(a * b for a, b in zip(q_vec, v, strict=False))
            score = (1 - self.lexical_weight) * sim + self.lexical_weight * overlaps[i]
            cands.append(_Candidate(n, pos, text, score))
        cands.sort(key=lambda c: c.score, reverse=True)
        best = cands[0].score
        if best < self.sentence_floor:
            return Generation(text="", model=self.name, abstained=True)
        chosen = [c for c in cands if c.score >= max(self.sentence_floor, best - self.margin)][: self.max_sentences]
        chosen.sort(key=lambda c: (c.n, c.order))
        text = " ".join(attach_citations(c.text, [c.n]) for c in chosen)
        return Generation(text=text, model=self.name)
