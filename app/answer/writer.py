"""Cutting a generated text stream into finished sentences, each with the passage numbers it cites.

A sentence is finished when the next one has begun with real content (a citation written after the full stop —
"... a year. [1]" — still belongs to it) or when the stream ends. The abstain sentinel anywhere stops the answer.
"""

from __future__ import annotations

from app.answer.citations import sentences_with_citations, strip_citations
from app.core.grounding import ABSTAIN


class SentenceStream:
    """Usage::

    pieces = SentenceStream()
    for delta in generator.stream(question, passages):
        for sentence, cited in pieces.feed(delta): ...   # (text without [n] markers, (n, ...))
    for sentence, cited in pieces.close(): ...
    pieces.abstained                                      # the sentinel appeared
    """

    def __init__(self) -> None:
        self.buffer = ""
        self.emitted = 0
        self.abstained = False

    def feed(self, delta: str) -> list[tuple[str, tuple[int, ...]]]:
        self.buffer += delta
        if ABSTAIN in self.buffer:
            self.abstained = True
            return []
        pieces = self._pieces()
        # The last piece may still grow (or receive a dangling citation): keep it back.
        ready = len(pieces) - 1
        if pieces and not any(ch.isalnum() for ch in pieces[-1][0]):
            ready -= 1  # "… days. [" — a citation may be on its way to the sentence before
        return self._take(pieces, ready)

    def close(self) -> list[tuple[str, tuple[int, ...]]]:
        if ABSTAIN in self.buffer:
            self.abstained = True
            return []
        pieces = self._pieces()
        return self._take(pieces, len(pieces))

    def _pieces(self) -> list[tuple[str, tuple[int, ...]]]:
        out = []
        for sentence, nums in sentences_with_citations(self.buffer):
            text = strip_citations(sentence)
            out.append((text, tuple(dict.fromkeys(nums))))
        return out

    def _take(self, pieces: list[tuple[str, tuple[int, ...]]], ready: int) -> list[tuple[str, tuple[int, ...]]]:
        new = [p for p in pieces[self.emitted : max(ready, self.emitted)] if any(ch.isalnum() for ch in p[0])]
        self.emitted = max(self.emitted, ready)
        return new
