"""Intent routing: classify the question, then choose its retrieval plan.

Classification is rules first (retrievers/intents.py, well under a millisecond), then, only for a question or
request that no rule recognised, embedding prototypes: the query is embedded once and compared with each intent's
centroid. Whatever is unsure falls back to `factual`, which retrieves — a wrong refusal costs more than a wasted search.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from app.core.domain import Intent, IntentResult, Query, RetrievalPlan
from app.core.ports import Embedder
from app.core.text import terms
from retrievers.intents import (
    ADVICE_CUE,
    CHITCHAT_FILLER,
    CHITCHAT_PHRASES,
    OUT_OF_SCOPE_RULES,
    PROTOTYPES,
    SENSITIVE_VOCAB,
    STRUCTURAL_RULES,
)

log = logging.getLogger(__name__)

FaqMatcher = Callable[[str], float]

# Intents that answer without retrieval; the embedding path needs more certainty to pick them.
NO_RETRIEVAL = frozenset({Intent.CHITCHAT, Intent.OUT_OF_SCOPE})

# A question or a request (not a statement such as a claim to verify): only these go to the prototypes.
_QUESTION = re.compile(
    r"[?？]|^\W*(?:what|whats|how|why|who|whom|whose|when|where|which|is|are|was|were|do|does|did|can|could|should"
    r"|would|will|shall|may|might|must|has|have|had|tell|explain|describe|list|give|show|find|please|help|compare"
    r"|summari[sz]e|write|translate|let's|i want|i need|i'd like)\b"
    r"|吗|呢|什么|哪|谁|几|多少|如何|怎|为何|为什么|请|帮我",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


class IntentRouter:
    """Classifies a query's intent and turns it into a `RetrievalPlan`.

    Args:
        embedder: enables the prototype path; without it, rules then `factual`.
        default_top_k: top_k when the query carries none.
        candidates: first-pass depth of a plain plan (comparisons and summaries fetch twice as many).
        faq_matcher: hook for a FAQ library (none exists yet): returns how well the text matches a known FAQ
            question, 0..1. At or above `faq_threshold` the intent is `faq`, ahead of every rule, because a curated
            question is in scope by definition. Without a matcher `faq` is never chosen.
        faq_threshold: see `faq_matcher`.
        min_similarity: the prototype path picks a retrieving intent only at this cosine to its centroid or above...
        margin: ...and this far ahead of the runner-up; otherwise `factual`.
        refusal_similarity: the cosine the prototype path needs to pick chit-chat or out-of-scope (no retrieval).

    Usage::

        router = IntentRouter(embedder)
        router.warm_up()
        intent = router.classify("What is the difference between annual and sick leave?")
        plan = router.plan(intent, query)  # comparison: min_documents=2, MMR, 2 chunks per document
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        default_top_k: int = 5,
        candidates: int = 50,
        faq_matcher: FaqMatcher | None = None,
        faq_threshold: float = 0.85,
        min_similarity: float = 0.55,
        margin: float = 0.08,
        refusal_similarity: float = 0.80,
    ) -> None:
        if default_top_k < 1 or candidates < 1:
            raise ValueError("default_top_k and candidates must be >= 1")
        for name, value in (
            ("faq_threshold", faq_threshold),
            ("min_similarity", min_similarity),
            ("margin", margin),
            ("refusal_similarity", refusal_similarity),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        self.embedder = embedder
        self.default_top_k = default_top_k
        self.candidates = candidates
        self.faq_matcher = faq_matcher
        self.faq_threshold = faq_threshold
        self.min_similarity = min_similarity
        self.margin = margin
        self.refusal_similarity = refusal_similarity
        self._intents: tuple[Intent, ...] = ()
        self._centroids: np.ndarray | None = None

    def warm_up(self) -> None:
        """Embed the prototype sentences once (one batch) and keep each intent's normalised centroid."""
        if self.embedder is None or self._centroids is not None:
            return
        intents = tuple(PROTOTYPES)
        texts = [t for i in intents for t in PROTOTYPES[i]]
        vectors = np.asarray(self.embedder.embed_batch(texts), dtype=np.float32)
        rows, start = [], 0
        for intent in intents:
            n = len(PROTOTYPES[intent])
            c = vectors[start : start + n].mean(axis=0)
            rows.append(c / (np.linalg.norm(c) or 1.0))
            start += n
        self._intents, self._centroids = intents, np.stack(rows)

    def classify(self, text: str) -> IntentResult:
        """Rules, then prototypes, then `factual`. `reason` names the rule or the prototype decision."""
        t = _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()
        if not t:
            return IntentResult(Intent.FACTUAL, 0.0, "empty")
        if self.faq_matcher is not None:
            score = float(self.faq_matcher(t))
            if score >= self.faq_threshold:
                return IntentResult(Intent.FAQ, score, "faq_matcher", {"faq": round(score, 3)})
        hit = self._rules(t)
        if hit is not None:
            return hit
        if not _QUESTION.search(t):
            return IntentResult(Intent.FACTUAL, 0.8, "rule:statement")
        if self.embedder is not None:
            return self._prototypes(t)
        return IntentResult(Intent.FACTUAL, 0.5, "default")

    def _rules(self, t: str) -> IntentResult | None:
        # Ordered by what a mistake costs: refusals need the whole message to match; sensitivity (which changes how
        # an answer is given) beats the plan-shaping intents.
        if CHITCHAT_PHRASES.search(t):
            rest = CHITCHAT_PHRASES.sub(" ", t)
            if not (terms(rest) - CHITCHAT_FILLER):
                return IntentResult(Intent.CHITCHAT, 0.95, "rule:chitchat")
        for name, pattern in OUT_OF_SCOPE_RULES:
            if pattern.search(t):
                return IntentResult(Intent.OUT_OF_SCOPE, 0.9, f"rule:{name}")
        if ADVICE_CUE.search(t):
            for intent, vocab in SENSITIVE_VOCAB:
                m = vocab.search(t)
                if m:
                    return IntentResult(intent, 0.85, f"rule:{intent.value} ({m.group(0).lower()!r} + advice cue)")
        for intent, name, pattern in STRUCTURAL_RULES:
            if pattern.search(t):
                return IntentResult(intent, 0.9, f"rule:{name}")
        return None

    def _prototypes(self, t: str) -> IntentResult:
        self.warm_up()
        assert self.embedder is not None and self._centroids is not None
        # One query embedding for every centroid. The retriever embeds the query again for its search.
        q = np.asarray(self.embedder.embed_query(t), dtype=np.float32)
        sims = self._centroids @ (q / (np.linalg.norm(q) or 1.0))
        scores = {i.value: round(float(s), 3) for i, s in zip(self._intents, sims, strict=True)}
        order = np.argsort(-sims)
        best, best_sim = self._intents[order[0]], float(sims[order[0]])
        gap = best_sim - float(sims[order[1]]) if len(order) > 1 else best_sim
        need = self.refusal_similarity if best in NO_RETRIEVAL else self.min_similarity
        if best != Intent.FACTUAL and best_sim >= need and gap >= self.margin:
            return IntentResult(best, best_sim, f"prototype:{best.value} cos={best_sim:.2f} margin={gap:.2f}", scores)
        why = "nearest" if best == Intent.FACTUAL else f"unsure ({best.value} cos={best_sim:.2f} margin={gap:.2f})"
        return IntentResult(Intent.FACTUAL, max(0.5, scores[Intent.FACTUAL.value]), f"prototype:factual {why}", scores)

    def plan(self, intent: IntentResult, query: Query) -> RetrievalPlan:
        """The retrieval plan for an intent. The caller's top_k is kept as the floor of what is returned, except
        for a FAQ (one curated answer needs few chunks)."""
        k = query.top_k or self.default_top_k
        base = RetrievalPlan(intent=intent.intent, top_k=k, candidates=max(self.candidates, k))
        match intent.intent:
            case Intent.CHITCHAT | Intent.OUT_OF_SCOPE:
                return replace(base, retrieve=False, rerank=False)
            case Intent.HOWTO:
                # Procedures span consecutive chunks of one manual: read neighbours and allow more per document.
                return replace(
                    base, expand_neighbours=True, per_document_cap=max(6, k), prefer_templates=("manual", "faq")
                )
            case Intent.COMPARISON:
                top_k = max(k, 6)
                return replace(
                    base,
                    top_k=top_k,
                    candidates=max(2 * self.candidates, top_k),
                    min_documents=2,
                    mmr_lambda=0.7,
                    per_document_cap=2,
                )
            case Intent.SUMMARY:
                top_k = max(k, 8)
                return replace(
                    base,
                    top_k=top_k,
                    candidates=max(2 * self.candidates, top_k),
                    expand_neighbours=True,
                    per_document_cap=top_k,
                    mmr_lambda=0.5,
                    token_budget=3000,
                )
            case Intent.FAQ:
                return replace(base, top_k=min(k, 3), prefer_templates=("faq",))
            case _:  # factual and sensitive_*: a plain lookup (the answer stage adds disclaimers for sensitive)
                return base
