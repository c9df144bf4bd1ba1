"""Deterministic fact checks of a claim against its evidence: numbers, dates, named entities, negation.

A number, date or named entity that a claim states and its evidence does not contain makes the claim unsupported,
whatever a learned score says. The checks are cheap (regular expressions, set look-ups, jieba for Chinese proper
nouns) and lenient where the same fact is written two ways: "25" = "twenty-five", "1.2 million" = "1,200,000",
"5万" = "50,000", "1940s" is supported by any year of that decade, "U.S." by "United States".

This module holds the checks (evidence index, fact look-up, negation); numbers.py finds the numbers and dates,
entities.py the named entities. Their public names are re-exported here.

Usage::

    unsupported_facts("The office opened in 1998 in Mumbai.", "The office in Delhi opened in 1998.")
    # ['entity "Mumbai"']
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from app.verify.entities import (
    _CONNECTORS,
    _DOTTED,
    _WORD_TOKEN,
    _entity_runs,
    _fold,
    _variants,
    warm_up,
    zh_entities,
)
from app.verify.numbers import (
    _HAS_CJK,
    _ISO_DATE,
    _MONTH,
    _MONTHS,
    _ZH_MONTH,
    Quantity,
    _matches,
    _zh_value,
    numerals_to_digits,
    quantities,
)

__all__ = [
    "CITATION",
    "Fact",
    "FactCheck",
    "Quantity",
    "check_facts",
    "negation_count",
    "negation_mismatch",
    "numerals_to_digits",
    "quantities",
    "strip_citations",
    "unsupported_facts",
    "warm_up",
    "zh_entities",
]

# Citation markers an answer sentence carries ("[1]", "[2, 3]", "[1-3]"): not facts of the claim.
CITATION = re.compile(r"\s*\[\d+(?:\s*[,;–-]\s*\d+)*\]")
# A list marker opening a sentence ("- ", "2. ", "3) ").
_LIST_MARKER = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")


def strip_citations(text: str) -> str:
    """The text without citation markers and a leading list marker."""
    return _LIST_MARKER.sub("", CITATION.sub("", text))


# ---------------------------------------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class _Evidence:
    text: str  # NFKC, citations removed
    values: frozenset[float]
    decades: frozenset[int]
    months: frozenset[int]
    words: frozenset[str]  # folded words and their light singulars


@lru_cache(maxsize=512)
def _evidence(text: str) -> _Evidence:
    text = unicodedata.normalize("NFKC", strip_citations(text))
    values: set[float] = set()
    for q in quantities(text):
        values.add(q.value)
        if q.scaled:
            values.add(q.value / q.scale)
    months = {_MONTHS[m.group(1).lower()] for m in _MONTH.finditer(text)}
    for m in _ISO_DATE.finditer(text):
        values.update(float(g) for g in m.groups())
        months.add(int(m.group(2)))
    for m in _ZH_MONTH.finditer(text):
        month = int(m.group(1)) if m.group(1).isdigit() else _zh_value(m.group(1))
        if month and 1 <= month <= 12:
            months.add(int(month))
    decades = {int(v) // 10 for v in values if 1000 <= v < 3000 and v == int(v)}
    words: set[str] = set()
    for m in _WORD_TOKEN.finditer(_DOTTED.sub(lambda d: d.group(0).replace(".", ""), text)):
        for part in m.group(0).split("-"):
            words.update(_variants(_fold(part)))
    return _Evidence(text, frozenset(values), frozenset(decades), frozenset(months), frozenset(words))


@lru_cache(maxsize=128)
def _initialisms(text: str) -> frozenset[str]:
    """Initials of the text's capitalised runs ("United States of America" → us, usa, sa, ...): looked up only when
    a claim's acronym is not in the evidence as a word."""
    out: set[str] = set()
    for run in _entity_runs(text):
        letters = [w[0].lower() for w in run if w.lower() not in _CONNECTORS]
        for i in range(len(letters)):
            for j in range(i + 2, min(len(letters), i + 6) + 1):
                out.add("".join(letters[i:j]))
    return frozenset(out)


# ---------------------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Fact:
    """A checkable item of a claim: `kind` is number, date or entity; `text` as written in the claim."""

    kind: str
    text: str

    def __str__(self) -> str:
        return f'{self.kind} "{self.text}"'


@dataclass(frozen=True)
class FactCheck:
    """What the claim states that can be checked, and what of it the evidence lacks."""

    numbers: int
    numbers_missing: int
    entities: int  # named entities and month names
    entities_missing: int
    missing: tuple[Fact, ...]

    @property
    def hard_fail(self) -> bool:
        return bool(self.missing)


def _entity_missing(run: list[str], ev: _Evidence) -> bool:
    for word in run:
        if word.lower() in _CONNECTORS:
            continue
        for part in word.split("-"):
            folded = _fold(part)
            if len(folded) < 2 or any(v in ev.words for v in _variants(folded)):
                continue
            if part.isupper() and folded in _initialisms(ev.text):  # an acronym of a name the evidence spells out
                continue
            return True
    return False


def check_facts(claim: str, evidence: str) -> FactCheck:
    """Numbers, dates and named entities of `claim`, each looked up in `evidence` (citation markers ignored)."""
    claim = unicodedata.normalize("NFKC", strip_citations(claim))
    ev = _evidence(evidence)
    missing: list[Fact] = []
    numbers = numbers_missing = 0
    for q in quantities(claim):
        if q.weak:
            continue
        numbers += 1
        if not _matches(q, ev.values, ev.decades):
            numbers_missing += 1
            missing.append(Fact("number", q.text))
    entities = entities_missing = 0
    month_words = set()
    for m in _MONTH.finditer(claim):
        word = m.group(1)
        if word == "May" and not re.match(r"\s*\d", claim[m.end() :]) and not re.search(r"\d\s*$", claim[: m.start()]):
            continue  # the modal verb opening a sentence, unless a day or year stands next to it
        month_words.add(word)
        entities += 1
        if _MONTHS[word.lower()] not in ev.months and _fold(word) not in ev.words:
            entities_missing += 1
            missing.append(Fact("date", word))
    for run in _entity_runs(claim, lone_initial=False):
        run = [w for w in run if w not in month_words] if month_words else run
        while run and run[0].lower() in _CONNECTORS:
            run = run[1:]
        if not run:
            continue
        entities += 1
        if _entity_missing(run, ev):
            entities_missing += 1
            missing.append(Fact("entity", " ".join(run)))
    for name in zh_entities(claim):
        entities += 1
        if name not in ev.text:
            entities_missing += 1
            missing.append(Fact("entity", name))
    return FactCheck(numbers, numbers_missing, entities, entities_missing, tuple(missing))


def unsupported_facts(claim: str, evidence: str) -> list[str]:
    """The numbers, dates and named entities of `claim` that `evidence` does not contain, each as `kind "text"`.

    An empty list means every checkable fact is there (or the claim states none).
    """
    return [str(f) for f in check_facts(claim, evidence).missing]


# ---------------------------------------------------------------------------------------------------------- negation

_NEGATION_EN = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|neither|nor|cannot|without|unable|fail(?:s|ed)?\s+to)\b|n['’]t\b",
    re.IGNORECASE,
)
# 不/没/未/无/非 open many words that negate nothing (不断 "continuously", 未来 "future", 非常 "very", 非洲 "Africa").
_NEGATION_ZH = re.compile(
    r"不(?![断仅少同久过管论但禁时免如然料止外])|没有?|未(?![来])|无(?![论数])|非(?![常洲])|否(?!则)|别(?![人的])"
)


def negation_count(text: str) -> int:
    """How many negation cues the text holds (English and Chinese)."""
    n = len(_NEGATION_EN.findall(text))
    if _HAS_CJK.search(text):
        n += len(_NEGATION_ZH.findall(text))
    return n


def negation_mismatch(claim: str, evidence: str) -> bool:
    """True when exactly one of the two is negated (counted by parity of negation cues)."""
    return negation_count(claim) % 2 != negation_count(evidence) % 2
