"""Sentence-level verification and repair of a generated answer.

Each sentence is checked against the passages it cites; if none of them supports it, against the other retrieved
passages (a supporting one replaces the wrong citation). Unsupported sentences are removed (or, by setting, kept and
flagged). The answer's `support` is the share of its sentences that are supported; the service turns an answer whose
support is below `min_support` into a refusal.

The checks themselves are a `Verifier` (the fast trained model, or an LLM judge): this module only decides which
(sentence, passage) pairs to check, in two batched rounds, and what to do with the verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.answer.citations import attach_citations, sentences_with_citations, strip_citations
from app.core.grounding import SentenceVerdict, Support
from app.core.ports import Verifier

FLAG = "(unverified)"


@dataclass(frozen=True)
class VerifiedAnswer:
    text: str  # the repaired answer: kept sentences, corrected citations
    verdicts: tuple[SentenceVerdict, ...]
    support: float  # share of checked sentences that are supported (0–1)
    repaired: bool  # something was removed, flagged or re-cited


class AnswerVerification:
    """Verifies answers sentence by sentence and repairs them.

    Usage::

        av = AnswerVerification(FastVerifier(embedder), unsupported="remove")
        result = av.verify(question, "Refunds take 30 days [1]. Shipping is free [2].", {1: text1, 2: text2})
        result.text, result.support, [v.to_dict() for v in result.verdicts]
    """

    def __init__(self, verifier: Verifier, unsupported: str = "remove") -> None:
        if unsupported not in ("remove", "flag"):
            raise ValueError("unsupported must be 'remove' or 'flag'")
        self.verifier = verifier
        self.unsupported = unsupported

    def verify(self, question: str, text: str, passages: dict[int, str]) -> VerifiedAnswer:
        """`passages` maps passage number → text (what the answer's [n] refer to)."""
        pieces = [(s, ns) for s, ns in sentences_with_citations(text) if any(ch.isalnum() for ch in strip_citations(s))]
        verdicts = self.check([(strip_citations(s), tuple(ns)) for s, ns in pieces], question, passages)
        return self.assemble(verdicts)

    def check(
        self, sentences: Sequence[tuple[str, tuple[int, ...]]], question: str, passages: dict[int, str]
    ) -> list[SentenceVerdict]:
        """Verdicts for already split sentences `(text without markers, cited numbers)`."""
        if not sentences:
            return []
        # Round 1: each sentence against each passage it cites (that exists).
        first: list[tuple[int, int]] = [(i, n) for i, (_, ns) in enumerate(sentences) for n in ns if n in passages]
        scores = self._score(question, [(sentences[i][0], passages[n]) for i, n in first])
        best: dict[int, tuple[int, Support]] = {}
        for (i, n), sup in zip(first, scores, strict=True):
            if i not in best or _better(sup, best[i][1]):
                best[i] = (n, sup)
        # Round 2: sentences no cited passage supports, against every other passage.
        retry = [i for i in range(len(sentences)) if i not in best or not best[i][1].supported]
        second = [(i, n) for i in retry for n in passages if n not in sentences[i][1]]
        alt: dict[int, tuple[int, Support]] = {}
        for (i, n), sup in zip(
            second, self._score(question, [(sentences[i][0], passages[n]) for i, n in second]), strict=True
        ):
            if sup.supported and (i not in alt or sup.score > alt[i][1].score):
                alt[i] = (n, sup)
        out = []
        for i, (sentence, cited) in enumerate(sentences):
            if i in best and best[i][1].supported:
                n, sup = best[i]
                out.append(SentenceVerdict(sentence, cited, tuple(c for c in cited if c in passages), True, sup.score))
            elif i in alt:
                n, sup = alt[i]
                why = "no citation" if not cited else f"cited passage {_nums(cited)} does not support it"
                out.append(SentenceVerdict(sentence, cited, (n,), True, sup.score, f"{why}; [{n}] does", True))
            else:
                sup = best[i][1] if i in best else None
                reason = sup.reason if sup and sup.reason else "no retrieved passage supports it"
                if not cited:
                    reason = f"no citation; {reason}"
                score = sup.score if sup else 0.0
                keep = self.unsupported == "flag"
                out.append(SentenceVerdict(sentence, cited, cited, False, score, reason, kept=keep))
        return out

    def assemble(self, verdicts: Sequence[SentenceVerdict]) -> VerifiedAnswer:
        """The repaired text and the support of a list of verdicts."""
        parts = []
        for v in verdicts:
            if not v.kept:
                continue
            sentence = v.sentence if v.supported else f"{v.sentence.rstrip()} {FLAG}"
            parts.append(attach_citations(sentence, v.citations))
        support = sum(v.supported for v in verdicts) / len(verdicts) if verdicts else 0.0
        repaired = any(v.corrected or not v.supported for v in verdicts)
        return VerifiedAnswer(" ".join(parts), tuple(verdicts), round(support, 4), repaired)

    def _score(self, question: str, pairs: list[tuple[str, str]]) -> list[Support]:
        return list(self.verifier.support(question, pairs)) if pairs else []


def render(verdict: SentenceVerdict) -> str:
    """One verified sentence as shown (with its citations, flagged if unsupported)."""
    sentence = verdict.sentence if verdict.supported else f"{verdict.sentence.rstrip()} {FLAG}"
    return attach_citations(sentence, verdict.citations)


def _better(a: Support, b: Support) -> bool:
    return (a.supported, a.score) > (b.supported, b.score)


def _nums(ns: Sequence[int]) -> str:
    return ", ".join(f"[{n}]" for n in ns)
