"""Verification features: how well one evidence text supports one claim, as a fixed-length vector.

Every feature is a share, a flag or a similarity in [0, 1] (one is a log count): none measures how long the claim is,
so the model cannot learn a data set's answer lengths instead of support. Terms are stemmed English words, numbers
and Chinese character bigrams, so English and Chinese use the same features. The question's words count as given
for `coverage_q` (an answer may restate the question), never for the fact checks.

Usage::

    x = compute_features("Where is the head office?", [("It is in Delhi.", "The head office is in Delhi.")])
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import Stemmer

from app.core.text import STOPWORDS, sentence_spans
from app.verify.consistency import FactCheck, check_facts, negation_count, numerals_to_digits, strip_citations

# The order is the model file's contract: `FastVerifier` refuses a file whose names differ.
FEATURE_NAMES: tuple[str, ...] = (
    "coverage",  # share of the claim's terms found in the evidence
    "coverage_q",  # the same, the question's terms counting as found
    "novel",  # log(1 + claim terms in neither evidence nor question)
    "coverage_sentence",  # best share of the claim's terms found in one evidence sentence
    "bigram",  # share of the claim's adjacent term pairs adjacent in the evidence
    "run",  # longest run of claim terms found contiguous in the evidence / claim terms
    "char",  # share of the claim's character 4-grams found in the evidence
    "verbatim",  # 1 when the normalised claim occurs in the normalised evidence
    "numbers_missing",  # share of the claim's numbers absent from the evidence
    "entities_missing",  # share of the claim's named entities and dates absent from the evidence
    "fact_fail",  # 1 when any number, date or entity is absent (the hard-fail rule)
    "negation_mismatch",  # negation parity differs between the claim and its best evidence sentence
    "embed_sentence",  # best cosine between the claim and an evidence sentence
    "embed_evidence",  # cosine between the claim and the whole evidence
)

NEGATION_MIN_TERMS = 3
NEGATION_MIN_OVERLAP = 0.6
Embed = Callable[[Sequence[str]], np.ndarray]  # texts → L2-normalised vectors (rows)

_LATIN = re.compile(r"[a-z]+|\d+(?:[.,]\d+)*")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_TOKEN = re.compile(r"[a-z]+|\d+(?:[.,]\d+)*|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_NON_TEXT = re.compile(r"[^\w\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMER = Stemmer.Stemmer("english")
# Words an answer adds around its facts ("both", "located", "known as", "around"): found in no evidence, they say
# nothing the evidence must back, so they count as stopwords here.
LIGHT_WORDS = frozenset(
    "also both either neither each every another other others such same own only just even still already yet "
    "very really quite rather more most less least much many several some various certain main mainly "
    "located based situated known called named titled referred considered regarded described found "
    "used using use make made makes take took taken give gave given get got become became becomes "
    "around approximately about roughly nearly almost over under least exactly total overall "
    "one ones thing things way ways part parts type kind sort something someone anything everything "
    "people person city town country place area region state year years time times date period "
    "answer question information text passage passages document documents context source sources "
    "according stated states say says said mention mentioned mentions note noted indicate indicates indicated "
    "well however therefore thus hence although though because since while whereas instead "
    "currently originally previously later first second last former latter respectively "
    "include includes included including involve involves involved specific specifically particular "
    "famous well-known notable popular".split()
)
_POSSESSIVE_S = re.compile(r"['’]s\b")
_ZH_STOP = frozenset("的 了 是 在 和 与 或 及 也 就 都 而 并 这 那 其 之 为 以 于 对 将 把 被".split())


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return "" if word in STOPWORDS or word in LIGHT_WORDS else _STEMMER.stemWord(word)


def normalise(text: str) -> str:
    """NFKC, lower case, citation markers removed, punctuation and whitespace collapsed to single spaces."""
    text = unicodedata.normalize("NFKC", strip_citations(text))
    text = _POSSESSIVE_S.sub("", numerals_to_digits(text).lower())
    return _NON_TEXT.sub(" ", text).strip()


def term_sequence(text: str) -> list[str]:
    """Content terms in reading order: stemmed English words and numbers (stopwords dropped), Chinese character
    bigrams (a lone character by itself, stop characters dropped)."""
    out: list[str] = []
    for tok in _TOKEN.findall(normalise(text)):
        if _CJK_RUN.fullmatch(tok):
            if len(tok) == 1:
                if tok not in _ZH_STOP:
                    out.append(tok)
            else:
                out.extend(tok[i : i + 2] for i in range(len(tok) - 1))
        elif tok[0].isdigit():
            out.append(tok.replace(",", ""))
        else:
            stem = _stem(tok)
            if stem:
                out.append(stem)
    return out


def _char_grams(norm: str, n: int = 4) -> set[str]:
    squeezed = norm.replace(" ", "")
    return {squeezed[i : i + n] for i in range(max(1, len(squeezed) - n + 1))} if squeezed else set()


@dataclass(frozen=True)
class EvidenceView:
    """What the features need of one evidence text, computed once however many claims it is checked against."""

    norm: str
    terms: frozenset[str]
    sequence: tuple[str, ...]
    positions: dict[str, tuple[int, ...]]  # term → where it occurs in `sequence`
    pairs: frozenset[tuple[str, str]]
    grams: frozenset[str]
    sentences: tuple[str, ...]
    sentence_terms: tuple[frozenset[str], ...]
    sentence_negated: tuple[bool, ...]


@lru_cache(maxsize=1024)
def analyse_evidence(text: str) -> EvidenceView:
    seq = term_sequence(text)
    norm = normalise(text)
    sentences = tuple(text[s:e] for s, e in sentence_spans(text)) or (text,)
    positions: dict[str, list[int]] = {}
    for i, t in enumerate(seq):
        positions.setdefault(t, []).append(i)
    return EvidenceView(
        norm=f" {norm} ",
        terms=frozenset(seq),
        sequence=tuple(seq),
        positions={t: tuple(p) for t, p in positions.items()},
        pairs=frozenset(zip(seq, seq[1:], strict=False)),
        grams=frozenset(_char_grams(norm)),
        sentences=sentences,
        sentence_terms=tuple(frozenset(term_sequence(s)) for s in sentences),
        sentence_negated=tuple(negation_count(s) % 2 == 1 for s in sentences),
    )


def _longest_run(claim: list[str], positions: dict[str, tuple[int, ...]]) -> int:
    """Longest run of consecutive claim terms that occurs contiguously in the evidence (`positions` of its terms)."""
    best = 0
    prev: dict[int, int] = {}
    for t in claim:
        cur: dict[int, int] = {}
        for j in positions.get(t, ()):
            cur[j] = prev.get(j - 1, 0) + 1
        if cur:
            best = max(best, max(cur.values()))
        prev = cur
    return best


@dataclass(frozen=True)
class PairFeatures:
    """One pair's features with what the verifier reports: the fact check, the verbatim flag, the novel words."""

    x: np.ndarray
    best_sentence: int  # the evidence sentence that covers the claim best
    facts: FactCheck
    verbatim: bool
    novel: tuple[str, ...]  # claim words in neither evidence nor question (as written, for reasons)
    contradicted: bool  # negated where the evidence sentence it restates is not (or the reverse)


@dataclass(frozen=True)
class FeatureBatch:
    """`x` (pairs × FEATURE_NAMES) and, per pair, the fact check, the verbatim flag and the novel words."""

    x: np.ndarray
    facts: list[FactCheck]
    verbatim: list[bool]
    novel: list[tuple[str, ...]]
    contradicted: list[bool]


def _novel_words(claim: str, missing: set[str]) -> tuple[str, ...]:
    """The claim's words (as written) whose terms are in `missing`, in order, without repeats."""
    out: dict[str, None] = {}
    for word in _WORDS.findall(claim):
        for run in _CJK_RUN.findall(word):  # Chinese: the missing character pairs themselves
            out.update(dict.fromkeys(t for t in term_sequence(run) if t in missing))
        if not _CJK_RUN.search(word) and any(t in missing for t in term_sequence(word)):
            out[word] = None
    return tuple(out)


def pair_features(question: str, claim: str, evidence: str) -> PairFeatures:
    """All features of one pair but the embedding ones (left 0)."""
    ev = analyse_evidence(evidence)
    seq = term_sequence(claim)
    terms = set(seq)
    x = np.zeros(len(FEATURE_NAMES), dtype=np.float64)
    best = 0
    novel: set[str] = set()
    if terms:
        found = terms & ev.terms
        q_terms = set(term_sequence(question)) if question else set()
        novel = terms - ev.terms - q_terms
        x[0] = len(found) / len(terms)
        x[1] = 1.0 - len(novel) / len(terms)
        x[2] = np.log1p(len(novel))
        overlaps = [len(terms & s) for s in ev.sentence_terms]
        best = int(np.argmax(overlaps))
        x[3] = overlaps[best] / len(terms)
        pairs = list(zip(seq, seq[1:], strict=False))
        x[4] = sum(p in ev.pairs for p in pairs) / len(pairs) if pairs else x[0]
        x[5] = _longest_run(seq, ev.positions) / len(seq)
    else:  # nothing to check ("Yes.")
        x[0:6] = (1.0, 1.0, 0.0, 1.0, 1.0, 1.0)
    norm = normalise(claim)
    grams = _char_grams(norm)
    x[6] = len(grams & ev.grams) / len(grams) if grams else 1.0
    verbatim = bool(norm) and f" {norm} " in ev.norm
    x[7] = float(verbatim)
    facts = check_facts(claim, evidence)
    x[8] = facts.numbers_missing / facts.numbers if facts.numbers else 0.0
    x[9] = facts.entities_missing / facts.entities if facts.entities else 0.0
    x[10] = float(facts.hard_fail)
    x[11] = float((negation_count(claim) % 2 == 1) != ev.sentence_negated[best])
    # A negation flip counts as a contradiction only when the claim restates one evidence sentence closely.
    contradicted = bool(x[11]) and len(terms) >= NEGATION_MIN_TERMS and x[3] >= NEGATION_MIN_OVERLAP
    return PairFeatures(x, best, facts, verbatim, _novel_words(claim, novel) if novel else (), contradicted)


def compute_features(question: str, pairs: Sequence[tuple[str, str]], embed: Embed | None = None) -> FeatureBatch:
    """Features of every (claim, evidence) pair of one question.

    `embed` is called once with every distinct claim and evidence sentence of the batch (and each whole evidence);
    without it the embedding features are 0.
    """
    rows = [pair_features(question, claim, evidence) for claim, evidence in pairs]
    x = np.zeros((len(pairs), len(FEATURE_NAMES)), dtype=np.float64)
    for i, row in enumerate(rows):
        x[i] = row.x
    if embed is not None and pairs:
        index: dict[str, int] = {}
        for claim, evidence in pairs:
            for text in (claim, evidence, *analyse_evidence(evidence).sentences):
                index.setdefault(text, len(index))
        vecs = np.asarray(embed(list(index)), dtype=np.float64)
        for i, (claim, evidence) in enumerate(pairs):
            c = vecs[index[claim]]
            sents = [index[s] for s in analyse_evidence(evidence).sentences]
            x[i, 12] = float(np.max(vecs[sents] @ c))
            x[i, 13] = float(vecs[index[evidence]] @ c)
    return FeatureBatch(
        x, [r.facts for r in rows], [r.verbatim for r in rows], [r.novel for r in rows], [r.contradicted for r in rows]
    )
