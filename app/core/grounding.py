"""Value types of grounded generation: support scores, per-sentence verdicts, chat messages.

Kept apart from `domain.py` (documents, chunks, retrieval) — these belong to the answer side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.domain import ScoredChunk

ABSTAIN = "NOT_IN_DOCUMENTS"  # the exact sentinel a generator writes when the passages do not answer


@dataclass(frozen=True)
class Support:
    """How well one piece of evidence supports one claim (an answer sentence).

    `score` is a probability-like value in [0, 1]; `supported` is the verifier's decision at its calibrated threshold.
    `hard_fail` marks a deterministic failure (a number, date or named entity of the claim absent from the evidence):
    such a claim is never supported, whatever the score.
    """

    score: float
    supported: bool
    reason: str = ""
    hard_fail: bool = False


@dataclass(frozen=True)
class SentenceVerdict:
    """The verification of one answer sentence.

    `cited` is what the generator wrote; `citations` what the answer finally cites (corrected when another passage
    supports the sentence and the cited one does not). `kept` is False when repair removed the sentence.
    """

    sentence: str
    cited: tuple[int, ...]
    citations: tuple[int, ...]
    supported: bool
    score: float
    reason: str = ""
    corrected: bool = False
    kept: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentence": self.sentence,
            "cited": list(self.cited),
            "citations": list(self.citations),
            "supported": self.supported,
            "score": round(self.score, 4),
            "reason": self.reason,
            "corrected": self.corrected,
            "kept": self.kept,
        }


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class Guidelines:
    """Extra instructions for a sensitive question (medical, legal, financial, self-harm): how to answer, plus the
    disclaimer shown with the answer."""

    domain: str
    instructions: str
    disclaimer: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Passage:
    """A numbered passage handed to the generator; `n` is what the answer cites as [n]."""

    n: int
    chunk: ScoredChunk

    @property
    def text(self) -> str:
        return self.chunk.chunk.text


@dataclass(frozen=True)
class Generation:
    text: str
    model: str
    abstained: bool = False


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    document_id: str
    external_id: str
    text: str
    page: int | None = None
    section_path: tuple[str, ...] = ()
    start: int = 0
    end: int = 0
    score: float = 0.0


@dataclass(frozen=True)
class Answer:
    """A grounded answer or an explicit refusal. Refusal is a value, not an exception."""

    question: str
    answer: str
    refused: bool
    reason: str | None
    citations: tuple[Citation, ...] = ()
    model: str = ""
    support: float = 0.0
    passages: tuple[Passage, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    notices: tuple[str, ...] = ()  # e.g. "general information, not medical advice" for a sensitive question
    guard: dict[str, Any] = field(default_factory=dict)  # what the input/output guards found and did
    verdicts: tuple[SentenceVerdict, ...] = ()  # per-sentence verification, in answer order
    repaired: bool = False  # sentences removed/flagged or citations corrected by verification
    source: str = "documents"  # documents | faq | none (refusals)
    label: dict[str, Any] = field(default_factory=dict)  # {"ai_generated": bool, "text": ...}
    provenance: dict[str, Any] = field(default_factory=dict)  # signed record: see app/answer/provenance.py
    gate: dict[str, Any] = field(default_factory=dict)  # the evidence gate's signals and decision
    faq: dict[str, Any] = field(default_factory=dict)  # the matched FAQ entry (source == "faq")
    request_id: str = ""
