"""Redundancy between candidates: near-duplicate detection and diversity (MMR), from the chunk texts alone.

Chunk embeddings do not travel with the candidates (the stores return payloads, and re-embedding 50 chunks costs more
than the search), so both similarities are lexical:

- near-duplicates: Jaccard similarity of word shingles (runs of three consecutive words; a CJK character counts as a
  word). A copy of a paragraph scores 1.0, a copy with one word changed in 130 about 0.95, the overlap between two
  adjacent chunks of one document (120 of 800 characters) under 0.1. Identical `content_hash` needs no comparison.
- diversity: binary cosine (Ochiai, |A ∩ B| / √(|A| |B|)) of content-word sets, stopwords removed so that sharing
  "the" and "of" is not similarity. Unlike Jaccard it does not punish a short paraphrase of a long chunk.

Both work lazily: texts are tokenised when first compared, `NearDuplicates` answers only for the candidates it is
asked about, and `MMRSelector` compares a candidate with the picks only when it could be the next pick. A post-filter
that stops at top_k therefore pays for about top_k candidates, not for all 50 × 50 pairs.
"""

from __future__ import annotations

import heapq
import math
import re
import string
from collections.abc import Callable, Sequence

from app.core.domain import Chunk
from app.core.text import STOPWORDS

# Scripts written without spaces: each character is a token (kana, CJK ideographs and compatibility ideographs).
CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{CJK_CHARS}]|[^\W_{CJK_CHARS}]+")
# The same split for ASCII text, three times faster than the regex: punctuation becomes a space.
_ASCII_PUNCT = str.maketrans(dict.fromkeys(string.punctuation, " "))


def tokenize(text: str) -> list[str]:
    """Lower-cased words (letters and digits); each CJK character is a word of its own."""
    if text.isascii():
        return text.lower().translate(_ASCII_PUNCT).split()
    return _TOKEN.findall(text.lower())


class TextSignatures:
    """Per-candidate tokens, shingles and content words, each computed on first use and then kept."""

    def __init__(self, texts: Sequence[str], shingle_size: int = 3) -> None:
        self.texts = texts
        self.shingle_size = shingle_size
        self._tokens: list[list[str] | None] = [None] * len(texts)
        self._shingles: list[frozenset[tuple[str, ...]] | None] = [None] * len(texts)
        self._terms: list[frozenset[str] | None] = [None] * len(texts)

    def tokens(self, i: int) -> list[str]:
        toks = self._tokens[i]
        if toks is None:
            toks = self._tokens[i] = tokenize(self.texts[i])
        return toks

    def shingles(self, i: int) -> frozenset[tuple[str, ...]]:
        sh = self._shingles[i]
        if sh is None:
            toks, k = self.tokens(i), self.shingle_size
            if len(toks) >= k:
                sh = frozenset(zip(*(toks[j:] for j in range(k)), strict=False))
            else:  # shorter than one shingle: the whole text is its only shingle, so two short copies still match
                sh = frozenset([tuple(toks)]) if toks else frozenset()
            self._shingles[i] = sh
        return sh

    def terms(self, i: int) -> frozenset[str]:
        t = self._terms[i]
        if t is None:
            t = self._terms[i] = frozenset(self.tokens(i)) - STOPWORDS
        return t


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def ochiai(a: frozenset, b: frozenset) -> float:
    """Binary cosine of two sets: |a ∩ b| / √(|a| |b|); 0 when either is empty."""
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))


class NearDuplicates:
    """Which candidates repeat a higher-ranked candidate that is itself no duplicate (the higher-ranked copy is kept).

    A candidate repeats another when their `content_hash` (or, without one, their text) is equal, or when the
    Jaccard similarity of their word shingles reaches `threshold`. Only survivors count, so in a chain A ≈ B ≈ C
    where A and C differ, dropping B does not drop C. Answers are computed on demand and kept: asking about
    candidate i compares it with the candidates above it, and asks about one of those only when i repeats it.
    """

    def __init__(self, chunks: Sequence[Chunk], signatures: TextSignatures, threshold: float | None) -> None:
        self.chunks = chunks
        self.sig = signatures
        self.threshold = threshold
        self._keys = [c.content_hash or c.text for c in chunks]
        self._answers: dict[int, tuple[int, str] | None] = {}

    def check(self, i: int) -> tuple[int, str] | None:
        """(index of the higher-ranked survivor that candidate `i` repeats, why) or None when `i` is no duplicate."""
        if i in self._answers:
            return self._answers[i]
        answer = None
        for j in range(i):
            why = self._repeats(i, j)
            if why is not None and self.check(j) is None:
                answer = (j, why)
                break
        self._answers[i] = answer
        return answer

    def _repeats(self, i: int, j: int) -> str | None:
        if self._keys[i] == self._keys[j]:
            same = self.chunks[i].id == self.chunks[j].id
            return "the same chunk listed twice" if same else "identical text (same content_hash)"
        t = self.threshold
        if t is None:
            return None
        a, b = self.sig.shingles(i), self.sig.shingles(j)
        n, m = len(a), len(b)
        # Jaccard ≤ min/max of the set sizes: most pairs are ruled out without an intersection.
        if not n or not m or min(n, m) < t * max(n, m):
            return None
        sim = jaccard(a, b)
        return f"word-shingle Jaccard {sim:.2f} ≥ {t:.2f}" if sim >= t else None


def normalised_relevance(scores: Sequence[float]) -> list[float]:
    """Scores min-max scaled to [0, 1] within the list (1 = best).

    Min-max keeps the size of the gaps the reranker saw: a clear winner stays clearly ahead, which a rank transform
    would flatten. When every score is equal (or a score is not finite) the list order decides: 1 - i / n.
    """
    n = len(scores)
    if not n:
        return []
    hi, lo = max(scores), min(scores)
    if hi > lo and math.isfinite(hi) and math.isfinite(lo):
        return [(s - lo) / (hi - lo) for s in scores]
    return [1.0 - i / n for i in range(n)]


class MMRSelector:
    """Maximal marginal relevance, one pick at a time: argmax of λ·relevance − (1 − λ)·(max similarity to picks).

    Usage::

        mmr = MMRSelector(normalised_relevance(scores), signatures, lam=0.5)
        while (i := mmr.next()) is not None:
            mmr.accept(i)  # or not, for a candidate a later stage rejects (it then makes no other one redundant)

    Lazy greedy: a candidate's score can only fall as picks accrue, so its last score is an upper bound. Candidates
    wait in a heap by that bound; only the one on top is compared with the picks it has not seen yet, and it is
    taken when its fresh score still tops every other bound. The result is exactly the eager MMR order (ties go to
    the higher-ranked candidate), but a candidate too weak to ever be on top is never tokenised or compared.
    """

    def __init__(self, relevance: Sequence[float], signatures: TextSignatures, lam: float) -> None:
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"mmr_lambda must be within [0, 1], got {lam}")
        self.relevance = relevance
        self.sig = signatures
        self.lam = lam
        n = len(relevance)
        self.max_sim = [0.0] * n  # over the first `seen[i]` picks
        self.nearest: list[int | None] = [None] * n
        self.seen = [0] * n
        self.picks: list[int] = []
        self._heap = [(-self.score(i), i) for i in range(n)]
        heapq.heapify(self._heap)

    def score(self, i: int) -> float:
        return self.lam * self.relevance[i] - (1.0 - self.lam) * self.max_sim[i]

    @property
    def remaining(self) -> list[int]:
        return sorted(i for _, i in self._heap)

    def exact(self, i: int) -> bool:
        """Whether candidate i has been compared with every pick (else its `max_sim` is a lower bound)."""
        return self.seen[i] == len(self.picks) or self.lam >= 1.0

    def next(self, doomed: Callable[[int], bool] | None = None) -> int | None:
        """Remove and return the best remaining candidate, or None when none is left.

        Args:
            doomed: candidates the caller will reject whatever their score (their document is full): one of them
                is returned as soon as it reaches the top, without comparisons. It must not be `accept`ed.
        """
        while self._heap:
            _, i = heapq.heappop(self._heap)
            if self.exact(i) or (doomed is not None and doomed(i)):
                return i
            self.refresh(i)
            heapq.heappush(self._heap, (-self.score(i), i))
        return None

    def refresh(self, i: int) -> None:
        """Compare candidate i with the picks it has not seen yet."""
        mine, terms = self.sig.terms(i), self.sig.terms
        for p in self.picks[self.seen[i] :]:
            s = ochiai(mine, terms(p))
            if s > self.max_sim[i]:
                self.max_sim[i], self.nearest[i] = s, p
        self.seen[i] = len(self.picks)

    def explain(self, i: int, name: Callable[[int], str]) -> str:
        """Candidate i's MMR figures against the picks so far, for a Decision; `name` names a candidate."""
        text = f"λ={self.lam:.2f}, relevance {self.relevance[i]:.2f}"
        if not self.exact(i) and self.seen[i]:
            self.refresh(i)  # a contender that fell behind: a few more comparisons make its figures exact
        if not self.exact(i):
            return text + ", too low to contend"
        near = self.nearest[i]
        if not self.picks:
            return text + ", the first pick"
        if near is None:
            return text + ", no content word in common with the chunks picked"
        return text + f", similarity {self.max_sim[i]:.2f} to {name(near)}"

    def accept(self, i: int) -> None:
        """Count `i` as picked: the remaining candidates are now compared with it too."""
        self.picks.append(i)
