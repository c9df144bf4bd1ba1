"""Named entities of a claim: runs of capitalised words, and Chinese proper nouns by jieba's dictionary tags.

Words are folded (lower case, no diacritics or possessive) and lightly singularised, so "Björn's" matches "Bjorn"
and "Americans" matches "American". jieba is loaded once, on first use or by `warm_up`.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from app.core.text import STOPWORDS
from app.verify.numbers import _CJK, _HAS_CJK

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
