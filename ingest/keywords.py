"""Keyword extraction for document metadata: English by stopword-split candidate phrases scored on frequency
(RAKE-like), Chinese by jieba's TF-IDF; long texts are sampled in evenly spaced windows so any size stays fast."""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter

from app.core.text import STOPWORDS

_EN_STOP = STOPWORDS | frozenset(
    "also after again against am among another around away back because before behind below between both but came "
    "come could did didn't does doesn't doing done down during each either else enough even ever every few first get "
    "gets getting go goes going gone got had has have having her hers herself him himself his however i'm i've "
    "indeed it's itself just know known last least less let like made make makes many more most much myself near "
    "need never new next none nor now often once one only other others otherwise ours out own per perhaps put quite "
    "rather really said same say says see seem seemed seems seen several she's since still take taken than that's "
    "them themselves there's therefore though through thus till too took toward towards two under until upon us use "
    "used uses using very via want was way ways well went what's while whole within without yet you're yours "
    "yourself http https www com org html jpg png retrieved archived".split()
)
_ZH_STOP = frozenset(
    "一个 一些 我们 你们 他们 可以 进行 通过 以及 这个 那个 这些 那些 因此 所以 但是 如果 其中 图片".split()
)
_HAN_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN = re.compile(r"[A-Za-z]")
# Markdown images vanish, links keep their text, bare URLs go: none of them says what the document is about.
_NOISE = (
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), " "),
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"(?:https?://|www\.)\S+"), " "),
)
# Phrases end at punctuation, CJK, a blank line or a dash; a single line break is only wrapped prose.
_BREAK = re.compile(r"[^A-Za-z0-9'’\-\s]+|\n\s*\n|--+|\s-+\s")
_EDGE = "'’-"
# Characters analysed, so that a 50-page document takes < 50 ms: jieba needs 2-4 µs a character, English ~0.25 µs.
_EN_BUDGET, _ZH_BUDGET, _WINDOWS = 120_000, 12_000, 24


def extract_keywords(text: str, n: int = 8) -> list[str]:
    """Up to ``n`` keywords of the text, best first, deterministic.

    Chinese-dominant text goes to jieba's TF-IDF (which keeps embedded English terms); other text to the English
    phrase scorer, plus jieba for the Chinese part when there is some. A long text is sampled in evenly spaced
    windows so that the cost is bounded and the whole document is represented.
    """
    sample = _denoise(_sample(text, _EN_BUDGET))
    han, latin = sum(map(len, _HAN_RUNS.findall(sample))), len(_LATIN.findall(sample))
    if han and han >= 0.2 * (han + latin):
        return jieba_tags(_denoise(_sample(text, _ZH_BUDGET)), n)
    english = _english_keywords(sample, n)
    if han < 20:
        return english
    n_zh = max(1, round(n * han / (han + latin / 5)))  # one Han character ≈ one word; an English word ≈ 5 letters
    chinese = jieba_tags(_sample("\n".join(_HAN_RUNS.findall(sample)), _ZH_BUDGET), n_zh)
    merged = english[: n - len(chinese)] + chinese
    return merged + [k for k in english if k not in merged][: n - len(merged)]


def _sample(text: str, budget: int) -> str:
    if len(text) <= budget:
        return text
    size, step = budget // _WINDOWS, len(text) // _WINDOWS
    return "\n\n".join(text[i * step : i * step + size] for i in range(_WINDOWS))


def _denoise(text: str) -> str:
    for pattern, repl in _NOISE:
        text = pattern.sub(repl, text)
    return text


def _content_word(raw: str) -> str | None:
    w = raw.strip(_EDGE).removesuffix("'s").removesuffix("’s")
    low = w.lower()
    if low in _EN_STOP or low.isdigit() or not (len(w) >= 3 or (len(w) == 2 and w.isupper())):
        return None
    return w if any(c.isalpha() for c in w) else None


def _english_keywords(text: str, n: int) -> list[str]:
    words: list[str] = []  # surface forms of the content words, and of the 2-3 word phrases they form
    phrases: list[str] = []
    seen: dict[str, str | None] = {}
    for fragment in _BREAK.split(text):
        run: list[str] = []
        for raw in [*fragment.split(), ""]:  # "" flushes the last run
            w = seen[raw] if raw in seen else seen.setdefault(raw, _content_word(raw))
            if w:
                run.append(w)
                continue
            if run:
                words.extend(run)
                # Every 2- and 3-word window: "Prince Andrew" also counts inside "Prince Andrew smiled".
                for size in (2, 3) if len(run) > 1 else ():
                    phrases.extend(" ".join(run[i : i + size]) for i in range(len(run) - size + 1))
                run = []
    scores: dict[str, float] = {}
    counts: dict[str, int] = {}
    shown: dict[str, str] = {}  # lower-case key → its most frequent surface form
    for forms, min_count in ((Counter(words), 1), (Counter(phrases), 2 if len(words) > 300 else 1)):
        grouped: dict[str, list[tuple[str, int]]] = {}
        for form, c in forms.items():
            grouped.setdefault(form.lower(), []).append((form, c))
        for key, group in grouped.items():
            count = sum(c for _, c in group)
            if count < min_count:
                continue
            proper = sum(c for f, c in group if f[0].isupper()) * 2 > count  # mostly capitalised: a name or acronym
            counts[key], scores[key] = count, count * (1 + 0.5 * key.count(" ")) * (1.5 if proper else 1.0)
            shown[key] = max(group, key=lambda fc: fc[1])[0]
    for key in [k for k in counts if k.count(" ") == 2]:  # a pair seen only inside one triple is that triple
        first, mid, last = key.split()
        for pair in (f"{first} {mid}", f"{mid} {last}"):
            if counts.get(pair, 0) <= counts[key]:
                scores.pop(pair, None)
    picked: list[str] = []
    for key in sorted(scores, key=lambda k: -scores[k]):  # stable: ties keep first-seen order
        parts = set(key.split())
        inside = [p for p in picked if set(p.split()) < parts]  # picks this candidate extends
        # Skip what a pick covers, and rare extensions of a pick ("annual leave accrues" of "annual leave"); a name
        # that extends a single word is not rare ("Prince Andrew" of "Prince").
        if any(parts <= set(p.split()) for p in picked) or any(
            counts[key] == 1 or (" " in p and counts[key] * 2 <= counts[p]) for p in inside
        ):
            continue
        # A pick that mostly occurs inside this phrase gives its place to it ("Andrew" → "Prince Andrew").
        absorbed = [i for i, p in enumerate(picked) if p in inside and counts[key] * 2 > counts[p]]
        for i in reversed(absorbed):
            del picked[i]
        picked.insert(absorbed[0] if absorbed else len(picked), key)
        if len(picked) == n:
            break
    return [shown[key] for key in picked]


_jieba_lock = threading.Lock()


def jieba_tags(text: str, n: int) -> list[str]:
    import jieba
    import jieba.analyse

    with _jieba_lock:  # the first call loads the dictionary (about a second); quietly, not on stdout
        if not jieba.dt.initialized:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
    out: list[str] = []
    for tag in (t.strip() for t in jieba.analyse.extract_tags(text, topK=n * 3 + 5)):
        low = tag.lower()
        if low in _EN_STOP or low in _ZH_STOP or not any(c.isalpha() for c in low) or (low.isascii() and len(low) < 2):
            continue
        out.append(tag)
        if len(out) == n:
            break
    return out
