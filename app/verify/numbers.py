"""Numbers, quantities and dates as a claim or its evidence writes them, for the fact checks of consistency.py.

Digits with scale words ("1.2 million", "5k", "5万"), written English numbers ("twenty-five"), Chinese numerals
("六十五", "二〇一五"), decades ("1940s"), and the month and date patterns the evidence index reads. `quantities`
finds them, `numerals_to_digits` rewrites written numbers as digits, `_matches` compares at the precision written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# CJK ideographs; also used by entities.py and consistency.py.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{_CJK}]")

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
