"""Matching a question against a collection's FAQ library: embedding cosine blended with a lexical score.

Per stored variant (the question and each alternative question) the score is

    w · semantic + (1 − w) · min(1, lexical / lexical_full) − extra_penalty · max(0, covered − covering)

- `semantic`: cosine of the embeddings (the container's dense embedder).
- `lexical`: Dice overlap of content features — stemmed English words without stopwords, and for Chinese (no spaces)
  single characters plus character bigrams, question particles left out.
- `w` is `semantic_weight` for Latin text and `cjk_semantic_weight` for CJK text (mixed text: in proportion). The
  default embedder (MiniLM) is English-only: on Chinese it gives every pair a high cosine, so Chinese is matched on
  the lexical score alone unless a multilingual embedder is configured.
- The penalty catches a question that *contains* the stored one and asks something more about it ("Can the
  probation period be extended?" vs "How long is the probation period?"): all of the stored question's features
  are in the probe (`covered`) while many of the probe's are not in the stored question (`covering`). Embeddings
  rate such pairs as close as true rewordings.

The index of one collection is built once (`FaqIndex.build`) and queried per question with one `embed_query`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.core.ports import Embedder

_LATIN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
STOPWORDS = frozenset(
    """a an the of to in on for and or is are was were be been being it its this that these those with by as at from
    what which who whom whose when where why how do does did can could should would will shall may might must i you
    he she we they me my your our their there here not no if then than so such about into over any all am i'm im
    get got gets us let there's ok please tell know want need have has had many much""".split()
)
# Particles and question words: they say that something is asked, not what.
CJK_STOP = frozenset("的了是吗呢吧啊呀么嘛哪怎何什几多少请问我你您")


def _stem(word: str) -> str:
    """A light English suffix stripper: enough to equate 'days'/'day' and 'paid'/'pay'-like forms on both sides."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, replacement, min_len in (("ies", "y", 5), ("ing", "", 6), ("ed", "", 5), ("es", "", 5), ("s", "", 4)):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word


def normalize(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the form questions are compared and de-duplicated in."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def features(text: str) -> frozenset[str]:
    """Lexical features: English content-word stems, CJK characters (particles left out) and CJK bigrams."""
    t = normalize(text)
    out = {_stem(w) for w in _LATIN.findall(t) if w not in STOPWORDS}
    for run in _CJK_RUN.findall(t):
        out.update(c for c in run if c not in CJK_STOP)
        out.update(a + b for a, b in zip(run, run[1:], strict=False) if not (a in CJK_STOP and b in CJK_STOP))
    return frozenset(out)


def cjk_share(text: str) -> float:
    """Share of CJK characters among the letters of `text` (0 for none)."""
    letters = len(_LETTER.findall(text))
    return len(_CJK_CHAR.findall(text)) / letters if letters else 0.0


@dataclass(frozen=True)
class FaqMatch:
    """The best stored question for a probe, at or above the threshold.

    `question` is the stored text that matched (the question itself or one of its alternative questions)."""

    entry_id: str
    question: str
    answer: str
    version: int
    score: float
    semantic: float
    lexical: float


@dataclass(frozen=True)
class IndexedEntry:
    """What the matcher needs of one active entry."""

    entry_id: str
    question: str
    answer: str
    version: int
    alt_questions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scored:
    """One variant's figures for a probe (also what `FaqMatcher.rank` returns, for evaluation and debugging)."""

    entry: IndexedEntry
    variant: str
    score: float
    semantic: float
    lexical: float


class FaqIndex:
    """The variants of one collection's active entries, their unit vectors and lexical features."""

    def __init__(self, entries: Sequence[IndexedEntry], vectors: np.ndarray, owners: list[int], texts: list[str]):
        self.entries = list(entries)
        self.vectors = vectors
        self.owners = owners
        self.texts = texts
        self.features = [features(t) for t in texts]

    def __len__(self) -> int:
        return len(self.texts)

    @staticmethod
    def variants(entries: Sequence[IndexedEntry]) -> tuple[list[int], list[str]]:
        """(owning entry position, text) of every question and alternative question, duplicates within an entry
        dropped."""
        owners: list[int] = []
        texts: list[str] = []
        for i, e in enumerate(entries):
            seen: set[str] = set()
            for q in (e.question, *e.alt_questions):
                key = normalize(q)
                if key and key not in seen:
                    seen.add(key)
                    owners.append(i)
                    texts.append(q)
        return owners, texts


class FaqMatcher:
    """Scores a question against a `FaqIndex`; returns the best entry at or above `threshold`.

    Usage::

        matcher = FaqMatcher(embedder, threshold=0.82)
        index = matcher.build([IndexedEntry("id1", "How long is the probation period?", "Six months.", 1)])
        matcher.match(index, "How long does probation last?")  # → FaqMatch(entry_id="id1", score=0.9, ...)
    """

    def __init__(
        self,
        embedder: Embedder,
        threshold: float = 0.82,
        semantic_weight: float = 0.7,
        cjk_semantic_weight: float = 0.0,
        lexical_full: float = 0.6,
        extra_penalty: float = 0.2,
    ) -> None:
        """Args:
        threshold: the score a match needs, 0..1.
        semantic_weight: weight of the embedding cosine for Latin-script text (the rest is lexical).
        cjk_semantic_weight: the same for Chinese text; 0 with an English-only embedder (the default MiniLM).
        lexical_full: a Dice overlap at or above this counts as full lexical agreement.
        extra_penalty: how much a probe that adds content to a contained stored question loses.

        Raises:
            ValueError: a weight or the threshold outside 0..1, or `lexical_full` not in (0, 1].
        """
        for name, value in (
            ("threshold", threshold),
            ("semantic_weight", semantic_weight),
            ("cjk_semantic_weight", cjk_semantic_weight),
            ("extra_penalty", extra_penalty),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if not 0.0 < lexical_full <= 1.0:
            raise ValueError(f"lexical_full must be in (0, 1], got {lexical_full}")
        self.embedder = embedder
        self.threshold = threshold
        self.semantic_weight = semantic_weight
        self.cjk_semantic_weight = cjk_semantic_weight
        self.lexical_full = lexical_full
        self.extra_penalty = extra_penalty

    def build(self, entries: Sequence[IndexedEntry], vectors: dict[str, list[float]] | None = None) -> FaqIndex:
        """Index active entries. `vectors` (text → embedding) are reused; only the texts missing there are embedded
        (and added to it)."""
        owners, texts = FaqIndex.variants(entries)
        cache = vectors if vectors is not None else {}
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, self.embedder.embed_batch(missing), strict=True))
        dim = getattr(self.embedder, "dim", 0)
        matrix = np.array([cache[t] for t in texts], dtype=np.float32) if texts else np.zeros((0, dim), np.float32)
        return FaqIndex(entries, matrix, owners, texts)

    def rank(self, index: FaqIndex, question: str, limit: int = 5) -> list[Scored]:
        """The best-scoring entries for `question`, one (its best variant) per entry, best first; no threshold."""
        if len(index) == 0 or not question.strip():
            return []
        query = np.asarray(self.embedder.embed_query(question), dtype=np.float32)
        semantic = index.vectors @ query
        probe = features(question)
        zh = cjk_share(question)
        w = self.semantic_weight * (1.0 - zh) + self.cjk_semantic_weight * zh
        best: dict[int, Scored] = {}
        for i, (owner, text, feats) in enumerate(zip(index.owners, index.texts, index.features, strict=True)):
            common = len(probe & feats)
            lexical = 2.0 * common / (len(probe) + len(feats)) if probe and feats else 0.0
            covered = common / len(feats) if feats else 0.0  # the stored question's share found in the probe
            covering = common / len(probe) if probe else 0.0  # the probe's share found in the stored question
            sem = float(semantic[i])
            score = w * sem + (1.0 - w) * min(1.0, lexical / self.lexical_full)
            score -= self.extra_penalty * max(0.0, covered - covering)
            score = max(0.0, min(1.0, score))
            if owner not in best or score > best[owner].score:
                best[owner] = Scored(index.entries[owner], text, score, sem, lexical)
        return sorted(best.values(), key=lambda s: -s.score)[:limit]

    def match(self, index: FaqIndex, question: str, threshold: float | None = None) -> FaqMatch | None:
        """The best entry if its score reaches `threshold` (default: the matcher's), else None."""
        top = self.rank(index, question, limit=1)
        needed = self.threshold if threshold is None else threshold
        if not top or top[0].score < needed:
            return None
        s = top[0]
        return FaqMatch(
            s.entry.entry_id,
            s.variant,
            s.entry.answer,
            s.entry.version,
            round(s.score, 4),
            round(s.semantic, 4),
            round(s.lexical, 4),
        )
