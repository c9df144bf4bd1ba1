"""Risk and sensitive topics (English and Chinese): harmful *requests* and advice-seeking questions.

A topic word alone is not a request: "suicide rates rose in 2010" is a finding, "how do I kill myself" is a cry for
help. So a risk rule needs a request cue next to a precise object ("how to" … "build a pipe bomb"); the looser topic
words only name the category once the classifier has already judged the text harmful. Sensitive topics (medical,
legal, financial) are not blocked: they fire on a topic word plus an advice-seeking cue, so that the answer can carry
guidance. The word lists are in `app.guards.lexicon`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.guards import lexicon

_I = re.IGNORECASE


@dataclass(frozen=True)
class Topic:
    category: str
    objects: re.Pattern[str]  # precise: together with a request cue it is a harmful request by itself
    words: re.Pattern[str]  # loose: names the category of a text the classifier already flagged
    request: re.Pattern[str]  # a request cue followed by an object


# The order is the priority when several match: the most specific harm first.
TOPICS: tuple[Topic, ...] = tuple(
    Topic(
        c,
        re.compile(lexicon.OBJECTS[c], _I),
        re.compile(lexicon.WORDS[c], _I),
        re.compile(rf"{lexicon.INTENT}.{{0,60}}?(?:{lexicon.OBJECTS[c]})", _I),
    )
    for c in ("self_harm", "sexual", "violence", "hate", "privacy", "crime")
)
# "How do I protect my staff against phishing" names a crime but asks for a defence.
_DEFENSIVE = re.compile(
    r"\b(?:protect\w*|prevent\w*|detect\w*|defend\w*|against|recogni[sz]\w*|identify\w*|report\w*|spot|avoid being|"
    r"safe from|stop\w*|awareness|history of|what (?:is|are|was|were))\b|防范|预防|识别|举报|防止",
    _I,
)
_FIRST_PERSON_SELF_HARM = re.compile(
    r"\b(?:i (?:want|wanna|am going|'m going|plan|intend|need) to (?:kill myself|die|end (?:it|my life))|"
    r"(?:kill|hurt|harm|cut)(?:t?ing)? myself|end(?:ing)? my (?:own )?life)"
    r"|我(?:想|要)(?:自杀|死|结束(?:自己的)?生命)|不想活了",
    _I,
)
_HOW_TO_OUTPUT = re.compile(
    r"(?:step \d|step one|first,|you will need|you'll need|ingredients|materials needed|here(?:'s| is| are) "
    r"(?:how|a|the|some)|sure[,!]|第一步|步骤|首先|你需要)",
    _I,
)
_SENSITIVE = {c: re.compile(p, _I) for c, p in lexicon.SENSITIVE.items()}
_ADVICE_INPUT = re.compile(
    r"\b(?:should i|can i|do i|am i|is it (?:safe|legal|ok|okay|wise|worth)|what should|how much|recommend\w*|"
    r"advice|advise|suggest\w*|help me|best way|my|me|i have|i've|i am|i'm)\b|我|应该|可以吗|怎么办|建议|推荐|该不该",
    _I,
)
_ADVICE_OUTPUT = re.compile(
    r"\b(?:you should|i recommend|i'd recommend|i would recommend|i suggest|consider (?:buying|selling|taking|"
    r"investing)|take \d+ ?mg|buy|sell)\b|你应该|建议你|推荐你",
    _I,
)


def risk_hits(norm: str, kind: str) -> list[tuple[str, str]]:
    """(category, matched text) for harmful requests (input) or harmful how-to content (output); none in documents."""
    if kind == "document":
        return []
    out = []
    for t in TOPICS:
        if kind == "input" and (m := t.request.search(norm)) and not _DEFENSIVE.search(m.group(0)):
            out.append((t.category, m.group(0)[-80:]))
        elif kind == "output" and (m := t.objects.search(norm)) and _HOW_TO_OUTPUT.search(norm):
            out.append((t.category, m.group(0)[:80]))
    if kind == "input" and all(c != "self_harm" for c, _ in out) and (m := _FIRST_PERSON_SELF_HARM.search(norm)):
        out.append(("self_harm", m.group(0)[:80]))
    return out


def topic_category(norm: str) -> str | None:
    """The risk category a text flagged as harmful is most likely about: precise objects first, then loose words;
    None when it names no risk topic at all."""
    for pattern in ("objects", "words"):
        for t in TOPICS:
            if getattr(t, pattern).search(norm):
                return t.category
    return None


def sensitive_hits(norm: str, kind: str) -> list[str]:
    """Sensitive categories asked about (input) or advised on (output)."""
    cue = {"input": _ADVICE_INPUT, "output": _ADVICE_OUTPUT}.get(kind)
    if cue is None or not cue.search(norm):
        return []
    return [c for c, p in _SENSITIVE.items() if p.search(norm)]
