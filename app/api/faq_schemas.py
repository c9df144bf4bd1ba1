"""Request and response shapes of the FAQ library endpoints (/v1/faq). The JSON shapes are a public contract."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.faq.importing import MAX_ALT_QUESTIONS, MAX_ANSWER, MAX_QUESTION, MAX_TAGS
from app.faq.matcher import FaqMatch


class FaqIn(BaseModel):
    collection: str = Field(..., min_length=1, max_length=64)
    question: str = Field(..., min_length=1, max_length=MAX_QUESTION)
    answer: str = Field(..., min_length=1, max_length=MAX_ANSWER, description="the approved answer, returned verbatim")
    alt_questions: list[str] = Field(
        default_factory=list, max_length=MAX_ALT_QUESTIONS, description="other phrasings that should match too"
    )
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    active: bool = Field(True, description="inactive entries are kept but never match")


class FaqUpdateIn(BaseModel):
    """Only the fields given change. `expected_version`: the version the edit is based on (409 when stale)."""

    question: str | None = Field(None, min_length=1, max_length=MAX_QUESTION)
    answer: str | None = Field(None, min_length=1, max_length=MAX_ANSWER)
    alt_questions: list[str] | None = Field(None, max_length=MAX_ALT_QUESTIONS)
    tags: list[str] | None = Field(None, max_length=MAX_TAGS)
    active: bool | None = None
    expected_version: int | None = Field(None, ge=1)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"expected_version"})


class FaqMatchIn(BaseModel):
    collection: str = Field(..., min_length=1, max_length=64)
    question: str = Field(..., min_length=1, max_length=4000)


def faq_match_out(m: FaqMatch) -> dict[str, Any]:
    """A match as the answer service reports it: the approved answer, marked `source: faq`."""
    return {
        "entry_id": m.entry_id,
        "question": m.question,
        "answer": m.answer,
        "version": m.version,
        "score": m.score,
        "semantic": m.semantic,
        "lexical": m.lexical,
        "source": "faq",
    }
