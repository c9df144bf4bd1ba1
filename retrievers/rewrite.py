"""Query rewrites for recall recovery: content keywords, and a multi-part question split into its parts.

Both are pure functions of the text (no model), English and Chinese. Chinese is segmented with jieba, whose dictionary
loads on first use (about a second); `warm_up()` loads it ahead of time.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from app.core.text import STOPWORDS, terms

log = logging.getLogger(__name__)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_QUOTED = re.compile(r"\"([^\"]{2,200})\"|“([^”]{2,200})”|「([^」]{1,200})」|『([^』]{1,200})』|《([^》]{1,200})》")
# Latin words keep inner hyphens, dots, slashes and apostrophes ("ISO-27001", "v2.3", "don't"); CJK runs go to jieba.
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}](?:[\w\-./']*[^\W_{_CJK}])?")
_CJK_RUN = re.compile(rf"[{_CJK}]")

# Words that ask rather than say; dropped from a keyword query on top of the shared stopwords.
QUESTION_WORDS = frozenset(
    "tell me about explain describe please list give show find know want need like get got does doesn't "
    "don't isn't aren't whats what's hows how's anyone someone something there's kind sort type way ways "
    "regarding concerning information info details detail".split()
)
ZH_STOPWORDS = frozenset(
    "的 了 是 在 和 与 或 及 吗 呢 吧 啊 呀 么 什么 哪 哪些 哪个 哪里 哪儿 哪国 哪家 哪年"
    " 怎么 怎样 怎么样 如何 为什么 为何"
    " 多少 几 几个 谁 何时 何地 什么时候 什么样 什么地方 是否 是不是 有没有 有 请问 请 一下 被 把 对 于 之 其 这 那"
    " 这个 那个 这些 那些 个 为 以 中 等 会 能 可以 要 需要 一个 还 也 就 都 而 并 从 到 我 你 他 她 它 我们 你们 他们"
    " 用来 做 主要 叫 称为 哪位 所 着 过 得 地 又 该".split()
)


class _Jieba:
    """jieba, imported and initialised once, on first use or in `warm_up`."""

    _lock = threading.Lock()
    _cut: Callable[[str], list[str]] | None = None

    @classmethod
    def cut(cls, text: str) -> list[str]:
        if cls._cut is None:
            with cls._lock:
                if cls._cut is None:
                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                    jieba.initialize()
                    cls._cut = jieba.lcut
        return cls._cut(text)


def warm_up() -> None:
    """Load jieba's dictionary now rather than on the first Chinese query that needs recovery."""
    _Jieba.cut("预热")


def keywords(text: str) -> str:
    """The query's content keywords, in order: quoted phrases, numbers, identifiers and capitalised terms are kept
    (an acronym such as "IT" survives although "it" is a stopword); question words and stopwords are dropped.

    >>> keywords('How many days of "paid annual leave" does an employee get in 2024?')
    'paid annual leave many days employee 2024'
    """
    kept: list[str] = []
    rest = text
    for m in _QUOTED.finditer(text):
        kept.append(next(g for g in m.groups() if g).strip())
    rest = _QUOTED.sub(" ", text)
    for tok in _TOKEN.findall(rest):
        if _CJK_RUN.match(tok):
            kept.extend(w for w in _Jieba.cut(tok) if w.strip() and w not in ZH_STOPWORDS)
            continue
        low = tok.lower()
        if any(ch.isdigit() for ch in tok) or (len(tok) > 1 and tok.isupper()):
            kept.append(tok)
        elif low not in STOPWORDS and low not in QUESTION_WORDS and len(low) > 1:
            kept.append(tok)
    out: dict[str, str] = {}  # lower-cased → first spelling, in order
    for w in kept:
        out.setdefault(w.lower(), w)
    return " ".join(out.values())


# Splitters, applied in this order; each level splits every part of the level before.
_NUMBERED = re.compile(
    r"(?:^|(?<=\s)|(?<=[:：;；,，]))(?:\(?\d{1,2}[.)、]|\(?[a-hA-H]\)|[•·]|第[一二三四五六七八九十]+[,，、]?)\s*"
)
_QUESTION_END = re.compile(r"(?<=[?？])\s*")
_CLAUSE = re.compile(
    r"\s*[;；]\s*(?:also,?\s+|and\s+)?|,?\s+(?:and|but) also\s+|[,.]\s+also,?\s+|\s+additionally,?\s+", re.I
)
_AND = re.compile(r",?\s+and\s+|\s*&\s*|以及|并且|还有|另外|同时|和", re.I)
_EDGE = re.compile(rf"^[\W_]+|[^\w{_CJK}?？]+$")


def split_question(text: str, max_parts: int = 4) -> list[str]:
    """The parts of a multi-part question, or `[text]` when it has one part.

    Splits at numbered or bulleted items, at each question mark, at "; also"-style clause breaks, then at "and" /
    以及 / 和. A level that would give more than `max_parts` parts is not applied. A part needs a content word
    (two CJK characters for a part split at 和), so "salt and pepper" splits but "A and the" does not.

    >>> split_question("What is the refund window and who approves exceptions?")
    ['What is the refund window', 'who approves exceptions?']
    """
    parts = [text.strip()]
    for splitter in (_split_numbered, _split_questions, _split_clauses, _split_and):
        nxt = [q for p in parts for q in splitter(p)]
        if len(nxt) > max_parts:
            break
        parts = nxt
    out: list[str] = []
    for p in parts:
        p = _EDGE.sub("", p).strip()
        if p and terms(p) and p.lower() not in {o.lower() for o in out}:
            out.append(p)
    return out if len(out) >= 2 else [text.strip()]


def _split_numbered(text: str) -> list[str]:
    marks = list(_NUMBERED.finditer(text))
    if len(marks) < 2:
        return [text]
    preamble = text[: marks[0].start()].strip(" :：")
    items = [
        text[m.end() : n.start() if n else len(text)].strip() for m, n in zip(marks, [*marks[1:], None], strict=True)
    ]
    items = [i for i in items if terms(i)]
    # A preamble that says something ("For the travel policy:") is the context of every item.
    if preamble and terms(preamble) - QUESTION_WORDS:
        items = [f"{preamble} {i}" for i in items]
    return items or [text]


def _split_questions(text: str) -> list[str]:
    pieces = [p for p in _QUESTION_END.split(text) if terms(p)]
    return pieces if len(pieces) >= 2 else [text]


def _split_clauses(text: str) -> list[str]:
    pieces = [p for p in _CLAUSE.split(text) if terms(p)]
    return pieces if len(pieces) >= 2 else [text]


def _split_and(text: str) -> list[str]:
    pieces = _AND.split(text)
    if len(pieces) < 2:
        return [text]
    for p in pieces:
        cjk = len(_CJK_RUN.findall(p))
        if not (terms(p) - STOPWORDS) or (cjk and cjk < 2 and not re.search(r"[A-Za-z0-9]", p)):
            return [text]
    return pieces
