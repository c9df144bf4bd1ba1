"""Deterministic fact checks of a claim against its evidence: numbers, dates, named entities, negation.

A number, date or named entity that a claim states and its evidence does not contain makes the claim unsupported,
whatever a learned score says. The checks are cheap (regular expressions, set look-ups, jieba for Chinese proper
nouns) and lenient where the same fact is written two ways: "25" = "twenty-five", "1.2 million" = "1,200,000",
"5万" = "50,000", "1940s" is supported by any year of that decade, "U.S." by "United States".

Usage::

    unsupported_facts("The office opened in 1998 in Mumbai.", "The office in Delhi opened in 1998.")
    # ['entity "Mumbai"']
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from app.core.text import STOPWORDS

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{_CJK}]")

# Citation markers an answer sentence carries ("[1]", "[2, 3]", "[1-3]"): not facts of the claim.
CITATION = re.compile(r"\s*\[\d+(?:\s*[,;–-]\s*\d+)*\]")
# A list marker opening a sentence ("- ", "2. ", "3) ").
_LIST_MARKER = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")


def strip_citations(text: str) -> str:
    """The text without citation markers and a leading list marker."""
    return _LIST_MARKER.sub("", CITATION.sub("", text))


# ---------------------------------------------------------------------------------------------------------- numbers

_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "trillion": 1e12,
    "万": 1e4,
    "亿": 1e8,
    "万亿": 1e12,
    "千": 1e3,
    "百": 1e2,
}
_DIGITS = re.compile(
    r"(?<![A-Za-z0-9.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(?:(s\b|'s\b)|(?:st|nd|rd|th)\b)?"
    r"(?:\s?(thousand|million|billion|trillion|bn|mn)\b|(k)\b|(万亿|万|亿|千(?![米克瓦卡])|百(?![分米])))?",
    re.IGNORECASE,
)
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
_ORDINALS = {
    w: i
    for i, w in enumerate(
        "_ _ _ third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth fifteenth "
        "sixteenth seventeenth eighteenth nineteenth twentieth".split()
    )
    if i > 2
}
_WORD_SCALES = {"hundred": 100, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_NUMBER_WORDS = {**_UNITS, **_TENS, **_ORDINALS}
_NUMBER_WORD = "|".join(sorted([*_NUMBER_WORDS, *_WORD_SCALES], key=len, reverse=True))
_WRITTEN = re.compile(
    rf"\b(?:{_NUMBER_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_NUMBER_WORD}))*\b",
    re.IGNORECASE,
)
_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        ),
        start=1,
    )
    for name in names.split()
}
_MONTH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\b\.?"
)
_ZH_MONTH = re.compile(r"(\d{1,2}|[一二三四五六七八九十]{1,2})月")
_ISO_DATE = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")

_ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 1e4, "亿": 1e8}
_ZH_NUMERAL = re.compile(r"(百分之)?([零〇一二两三四五六七八九十百千万亿]+)(?=(.?))")
# A single numeral character is a number only before a measure word (三人, 五月); otherwise it is part of a word
# (统一, 四川, 三峡).
_ZH_MEASURES = set(
    "个年月日号天人名位次届项家条件元岁倍所座国省市场部台辆架艘吨分秒时周批种类支只头份篇本米里亩层期轮成股点多余"
)
# Multi-character runs that are words, not quantities.
_ZH_NOT_NUMBERS = {"万一", "千万", "一一", "十分", "一二", "三三", "万万", "百一"}


def _as_float(mantissa: str, fraction: str | None) -> float:
    return float(mantissa.replace(",", "") + (fraction or ""))


def _written_value(words: list[str]) -> float | None:
    """'twenty five' → 25, 'three hundred thousand' → 300000; None when the words do not form a number."""
    total, current, seen = 0.0, 0.0, False
    for w in words:
        if w == "and":
            continue
        if w in _NUMBER_WORDS:
            current += _NUMBER_WORDS[w]
            seen = True
        elif w == "hundred":
            current = (current or 1) * 100
            seen = True
        elif w in _WORD_SCALES:
            total += (current or 1) * _WORD_SCALES[w]
            current = 0.0
            seen = True
    return total + current if seen else None


def _zh_value(run: str) -> float | None:
    """Chinese numeral → value: '六十五' → 65, '二〇一五' → 2015, '三千五百万' → 35000000."""
    if all(c in _ZH_DIGITS for c in run):  # digit by digit: 二〇一五
        return float("".join(str(_ZH_DIGITS[c]) for c in run))
    total, section, digit = 0.0, 0.0, None
    for c in run:
        if c in _ZH_DIGITS:
            digit = _ZH_DIGITS[c]
        elif c in _ZH_UNITS:
            section += (1 if digit is None else digit) * _ZH_UNITS[c]
            digit = None
        elif c in _ZH_BIG:
            section += digit or 0
            total = (total + (section or 1)) * _ZH_BIG[c]
            section, digit = 0.0, None
    return total + section + (digit or 0)


@dataclass(frozen=True)
class Quantity:
    """A number as written (`text`) with its value; `decade` for "1940s"; `scaled` when a scale word multiplied it
    (then it matches evidence at the precision written: "1.3 million" matches 1,283,000)."""

    text: str
    value: float
    decade: bool = False
    scaled: bool = False
    decimals: int = 0  # digits after the point of the written mantissa (precision of a scaled number)
    scale: float = 1.0
    weak: bool = False  # "one" / 一 alone: too common in other senses to be checked in a claim


def quantities(text: str) -> list[Quantity]:
    """Every number in the text: digits (with scale words and Chinese 万/亿), written English numbers and Chinese
    numerals."""
    out: list[Quantity] = []
    for m in _DIGITS.finditer(text):
        mantissa, fraction, plural = m.group(1), m.group(2), m.group(3)
        value = _as_float(mantissa, fraction)
        decimals = len(fraction) - 1 if fraction else 0
        scale_key = (m.group(4) or m.group(5) or m.group(6) or "").lower()
        if scale_key:
            scale = _SCALES[scale_key]
            out.append(Quantity(m.group(0), value * scale, scaled=True, decimals=decimals, scale=scale))
        else:
            decade = bool(plural) and value >= 10 and value % 10 == 0 and fraction is None
            out.append(Quantity(m.group(0), value, decade=decade))
    for m in _WRITTEN.finditer(text):
        if re.search(r"\d\s*$", text[max(0, m.start() - 3) : m.start()]):
            continue  # the scale word of a digit number ("1.3 million"), counted above
        words = re.split(r"[\s-]+", m.group(0).lower())
        written = _written_value(words)
        if written is not None:
            out.append(Quantity(m.group(0), written, weak=words == ["one"]))
    if _HAS_CJK.search(text):
        for m in _ZH_NUMERAL.finditer(text):
            percent, run, after = m.group(1), m.group(2), m.group(3)
            if run in _ZH_NOT_NUMBERS:
                continue
            if len(run) == 1 and not percent and (after not in _ZH_MEASURES or run in _ZH_BIG or run in "千百"):
                continue
            zh = _zh_value(run)
            if zh is not None:
                out.append(Quantity(m.group(0), zh, weak=run == "一"))
    return out


def numerals_to_digits(text: str) -> str:
    """Written numbers as digits ("twenty-five" → "25", "六十五" → "65"), so that word overlap sees one form. Words
    that only look like numbers (统一, "one of") are left alone, as `quantities` leaves them."""

    def written(m: re.Match[str]) -> str:
        words = re.split(r"[\s-]+", m.group(0).lower())
        value = _written_value(words)
        if value is None or words == ["one"] or re.search(r"\d\s*$", text[max(0, m.start() - 3) : m.start()]):
            return m.group(0)
        return f"{value:g}" if value < 1e15 else m.group(0)

    def chinese(m: re.Match[str]) -> str:
        percent, run, after = m.group(1), m.group(2), m.group(3)
        if (
            run in _ZH_NOT_NUMBERS
            or run == "一"
            or (len(run) == 1 and not percent and (after not in _ZH_MEASURES or run in _ZH_BIG or run in "千百"))
        ):
            return m.group(0)
        value = _zh_value(run)
        return m.group(0) if value is None else ("百分之" if percent else "") + f"{value:.0f}"

    text = _WRITTEN.sub(written, text)
    return _ZH_NUMERAL.sub(chinese, text) if _HAS_CJK.search(text) else text


def _matches(q: Quantity, values: frozenset[float], decades: frozenset[int]) -> bool:
    if q.decade:
        return int(q.value) // 10 in decades or q.value in values
    if q.value in values:
        return True
    if q.scaled:  # written at reduced precision: compare at that precision, in the unit written
        step = q.scale / 10**q.decimals
        return any(abs(v - q.value) < step / 2 + 1e-9 for v in values if v >= step)
    return False


# ---------------------------------------------------------------------------------------------------------- entities

# Capitalised words that open a sentence without naming anything.
_STARTERS = STOPWORDS | frozenset(
    "also although after again already always among another anyway around based because before besides both but "
    "consequently currently despite due during each either especially even eventually every finally first firstly "
    "following for further furthermore generally given hence however i in including indeed instead it's later "
    "likewise many meanwhile moreover most much nevertheless next nonetheless notably now often once only "
    "otherwise overall per perhaps please previously rather regarding secondly similarly since some sometimes "
    "specifically still subsequently thus today together typically ultimately unfortunately unless unlike until "
    "usually while yet yes according answer note overall sure summary therefore thereby though whereas whether "
    "none nothing one two three several other others his her hers him our ours mine yours theirs let see".split()
)
_WORD_TOKEN = re.compile(rf"[^\W\d_{_CJK}](?:[^\W{_CJK}]|['’])*(?<!['’])")
_DOTTED = re.compile(r"\b(?:[A-Z]\.){2,}")
_BOUNDARY = re.compile(r"[.!?:;\n。！？；：]")
_CONNECTORS = frozenset("of the de da di du del della der van von la le y and & al bin ibn".split())
_POSSESSIVE = re.compile(r"['’]s?$")


@lru_cache(maxsize=65536)
def _fold(word: str) -> str:
    """Lower case without diacritics or a possessive: "Björn's" → "bjorn"."""
    word = _POSSESSIVE.sub("", word.lower())
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _variants(word: str) -> tuple[str, ...]:
    """A folded word and its light singular ("Americans" → "american")."""
    if len(word) > 3 and word.endswith("es"):
        return (word, word[:-1], word[:-2])
    if len(word) > 2 and word.endswith("s"):
        return (word, word[:-1])
    return (word,)


def _entity_runs(text: str, lone_initial: bool = True) -> list[list[str]]:
    """Runs of capitalised words (connectors such as "of" allowed inside); a sentence-opening common word is not a
    name. Single letters are skipped. Without `lone_initial`, a run of one word that opens a sentence is dropped too:
    "Employees get ..." cannot be told from "Mumbai is ..." without a dictionary, so it is left to the model."""
    runs: list[list[str]] = []
    run_initial = False
    current: list[str] = []
    pending: list[str] = []
    text = _DOTTED.sub(lambda d: d.group(0).replace(".", ""), text)
    last_end = -1
    for m in _WORD_TOKEN.finditer(text):
        word = m.group(0)
        starts = last_end < 0 or _BOUNDARY.search(text, last_end, m.start()) is not None
        last_end = m.end()
        capital = any(c.isupper() for c in word)
        if capital and starts and _fold(word) in _STARTERS:
            capital = False
        if capital and len(word) > 1:
            if not current:
                run_initial = starts and not word.isupper()
            current.extend(pending)
            pending = []
            current.append(word)
        elif current and word.lower() in _CONNECTORS:
            pending.append(word)
        else:
            if current and (lone_initial or len(current) > 1 or not run_initial):
                runs.append(current)
            current, pending = [], []
    if current and (lone_initial or len(current) > 1 or not run_initial):
        runs.append(current)
    return runs


class _Jieba:
    """jieba and its dictionary's part-of-speech table, loaded once (about two seconds) on first use or warm_up."""

    _lock = threading.Lock()
    cut: Callable[[str], list[str]] | None = None
    tags: dict[str, str] = {}
    freq: dict[str, int] = {}

    @classmethod
    def load(cls) -> None:
        if cls.cut is not None:
            return
        with cls._lock:
            if cls.cut is None:
                import jieba
                import jieba.posseg

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                cls.tags = jieba.posseg.dt.word_tag_tab
                cls.freq = jieba.dt.FREQ
                cls.cut = jieba.lcut


_ZH_NAME_TAGS = frozenset({"ns", "nt", "nrt", "nrfg"})  # place, organisation, person in jieba's dictionary
# jieba tags many common words "nr" (祝贺 "congratulate"): a person's name counts only when the word is rare.
_ZH_RARE_NAME = 200


def zh_entities(text: str) -> list[str]:
    """Chinese proper nouns (people, places, organisations) by jieba's dictionary tags, two characters or more."""
    if not _HAS_CJK.search(text):
        return []
    _Jieba.load()
    assert _Jieba.cut is not None
    seen: dict[str, None] = {}
    for w in _Jieba.cut(text):
        if len(w) < 2 or not _HAS_CJK.match(w):
            continue
        tag = _Jieba.tags.get(w)
        if tag in _ZH_NAME_TAGS or (tag == "nr" and _Jieba.freq.get(w, 0) < _ZH_RARE_NAME):
            seen[w] = None
    return list(seen)


def warm_up() -> None:
    """Load jieba's dictionary now rather than on the first Chinese claim."""
    zh_entities("预热北京")


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
