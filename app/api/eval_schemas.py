"""Request shapes of the evaluation endpoints (/v1/eval). The JSON shapes are a public contract (see README)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class SuiteIn(BaseModel):
    """A suite as JSON rows: `{id?, question, reference_answer?, reference_document_ids?, reference_contexts?,
    answerable?, tags?}` — the same fields as a JSONL suite file; every bad row is reported with its number."""

    name: str = Field(..., min_length=1, max_length=200)
    rows: list[dict[str, Any]] = Field(..., min_length=1)


class RunIn(BaseModel):
    suite_id: str = Field(..., min_length=1, max_length=40)
    collection: str = Field(..., min_length=1, max_length=64)
    judge: str | None = Field(None, description="none | local | openai (default: GROUNDED_EVAL__JUDGE)")
    metrics: list[str] | None = Field(None, description="metric names; default: all that apply with this judge")
