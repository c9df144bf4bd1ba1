"""Citations: parsed with one regex; only passages that are really cited become citations."""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.core.grounding import Citation, Passage

CITATION = re.compile(r"\[(\d{1,3})\]")
_LEADING = re.compile(r"^(?:\s*\[\d{1,3}\])+")


def cited_numbers(text: str) -> list[int]:
    """Passage numbers cited in `text`, in order of first appearance, without repeats."""
    seen: list[int] = []
    for m in CITATION.finditer(text):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


def build_citations(text: str, passages: Sequence[Passage]) -> tuple[Citation, ...]:
    """Citations for the numbers in `text` that name a real passage (an out-of-range [9] is ignored)."""
    by_n = {p.n: p for p in passages}
    out = []
    for n in cited_numbers(text):
        p = by_n.get(n)
        if p is None:
            continue
        c = p.chunk.chunk
        out.append(
            Citation(
                n=n,
                chunk_id=c.id,
                document_id=c.document_id,
                external_id=c.external_id,
                text=c.text,
                page=c.page,
                section_path=c.section_path,
                start=c.start,
                end=c.end,
                score=p.chunk.dense_score if p.chunk.dense_score is not None else p.chunk.score,
            )
        )
    return tuple(out)


def sentences_with_citations(text: str) -> list[tuple[str, list[int]]]:
    """Split an answer into sentences, each with the passage numbers it cites."""
    from app.core.text import sentence_spans

    out: list[tuple[str, list[int]]] = []
    for s, e in sentence_spans(text):
        sentence = text[s:e]
        lead = _LEADING.match(sentence)
        if out and lead and CITATION.sub("", sentence).strip(" .。"):
            # "... a year. [1] Shipping ..." — citations after the full stop belong to the sentence before.
            prev, prev_nums = out[-1]
            out[-1] = (f"{prev} {lead.group(0).strip()}", prev_nums + [int(n) for n in CITATION.findall(lead.group(0))])
            sentence = sentence[lead.end() :].lstrip()
        nums = [int(m.group(1)) for m in CITATION.finditer(sentence)]
        if out and not CITATION.sub("", sentence).strip(" .。"):
            # A citation left dangling after the full stop ("... year. [1]") belongs to the sentence before it.
            prev, prev_nums = out[-1]
            out[-1] = (f"{prev} {sentence}", prev_nums + nums)
            continue
        out.append((sentence, nums))
    return out


_END = ".!?。！？;；:："


def strip_citations(sentence: str) -> str:
    """The sentence without its [n] markers (and without the space a marker leaves before punctuation)."""
    text = CITATION.sub("", sentence)
    return re.sub(r"\s+([.!?。！？;；:：,，])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()


def attach_citations(sentence: str, numbers: Sequence[int]) -> str:
    """Place citations before the closing punctuation: `... per year [1][3].` (the sentence itself is untouched)."""
    if not numbers:
        return sentence
    body = sentence.rstrip(_END)
    marks = "".join(f"[{n}]" for n in numbers)
    return f"{body} {marks}{sentence[len(body) :]}"
