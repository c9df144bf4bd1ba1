"""HTTP request/response models and the mappers from domain types. The JSON shapes are a public contract."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field

from app.core.domain import Chunk, Document, Retrieval, RetrievalPlan, ScoredChunk
from app.core.filters import Filter
from app.core.grounding import Answer, Citation


class ErrorOut(BaseModel):
    """Every error body: `detail` says why (a list of `{loc, msg, type}` for request-shape errors); `field` names the
    offending input of a domain check; `kind` what was not found; `rejected` the files of a refused upload."""

    detail: str | list[dict[str, Any]]
    field: str | None = None
    kind: str | None = None
    rejected: list[dict[str, Any]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": why}
    for code, why in (
        (400, "malformed body"),
        (401, "missing, wrong or revoked API key"),
        (403, "the key's role may not do this"),
        (404, "not found (or not visible to the key)"),
        (409, "conflict"),
        (413, "too large"),
        (415, "unsupported file type"),
        (422, "invalid input"),
        (429, "rate limit exceeded (see Retry-After)"),
        (503, "a backend is unavailable"),
    )
}


class CollectionIn(BaseModel):
    name: str = Field(..., description="letters, digits, '_', '-', '.'; 1-64 chars, starting with a letter or digit")
    template: str = Field("general", description="default chunk template for the collection's documents")
    description: str = ""
    embedder: str = Field("default", description="dense embedder: default (MiniLM, English) or multilingual (USE)")
    metadata_schema: dict[str, Any] | None = Field(
        None, description='typed user metadata: {"fields": {"year": {"type": "number"}, ...}, "allow_extra": true}'
    )


class UrlsIn(BaseModel):
    urls: list[str] = Field(..., min_length=1, max_length=200, description="http(s) URLs of pages or files")
    metadata: dict[str, Any] | None = None
    acl_groups: list[str] | None = None
    template: str | None = None
    template_params: dict[str, Any] | None = None


class ReindexIn(BaseModel):
    template: str | None = Field(None, description="new chunk template (becomes the collection's default)")
    template_params: dict[str, Any] | None = Field(None, description="the template's own parameters")


class RetrieveIn(BaseModel):
    query: str = Field(..., min_length=1, max_length=4000)
    collection: str
    top_k: int | None = Field(None, ge=1, le=1000)
    filters: Filter | None = Field(None, description="hard filters: always applied inside the search")
    soft_filters: Filter | None = Field(None, description="applied first; relaxed when they leave too little")
    explain: bool = Field(False, description="add why each candidate chunk was kept or dropped")


class AnswerIn(BaseModel):
    question: str = Field(..., min_length=1, max_length=4000)
    collection: str
    top_k: int | None = Field(None, ge=1, le=1000)
    filters: Filter | None = None
    soft_filters: Filter | None = Field(None, description="applied first; relaxed when they leave too little")
    stream: bool = Field(
        False, description="server-sent events: each verified sentence as `sentence`, then `final` with everything"
    )


def span(start: int, end: int) -> dict[str, int]:
    return {"start": start, "end": end}


def document_out(d: Document) -> dict[str, Any]:
    return {
        "id": d.id,
        "collection": d.collection,
        "external_id": d.external_id,
        "filename": d.filename,
        "file_type": d.file_type,
        "title": d.title,
        "status": d.status,
        "chunk_count": d.chunk_count,
        "template": d.template,
        "size_bytes": d.size_bytes,
        "content_hash": d.content_hash,
        "metadata": d.metadata,
        "acl_groups": list(d.acl_groups),
        "error": d.error,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }


def chunk_out(c: Chunk) -> dict[str, Any]:
    return {
        "chunk_id": c.id,
        "document_id": c.document_id,
        "external_id": c.external_id,
        "collection": c.collection,
        "position": c.position,
        "text": c.text,
        "template": c.template,
        "title": c.title,
        "page": c.page,
        "section_path": list(c.section_path),
        "span": span(c.start, c.end),
        "file_type": c.file_type,
        "metadata": c.metadata,
        "quarantine": c.quarantine,
    }


def scored_out(s: ScoredChunk) -> dict[str, Any]:
    return {
        **chunk_out(s.chunk),
        "rank": s.rank,
        "score": round(s.score, 6),
        "scores": {"fused": round(s.score, 6), "dense": _r(s.dense_score), "sparse": _r(s.sparse_score)},
    }


def retrieval_out(r: Retrieval, explain: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "query": r.query.text,
        "collection": r.query.collection,
        "top_k": r.query.top_k,
        "chunks": [scored_out(c) for c in r.chunks],
        "intent": None
        if r.intent is None
        else {"intent": r.intent.intent.value, "confidence": round(r.intent.confidence, 3), "reason": r.intent.reason},
        "plan": None if r.plan is None else _plan_out(r.plan),
        "recovery_path": list(r.recovery_path),
        "dropped_below_floor": r.dropped_below_floor,
        "timings_ms": r.timings_ms,
    }
    if explain:
        out["decisions"] = [
            {"chunk_id": d.chunk_id, "kept": d.kept, "stage": d.stage, "reason": d.reason} for d in r.decisions
        ]
    return out


def _plan_out(p: RetrievalPlan) -> dict[str, Any]:
    return {
        k: (v.value if hasattr(v, "value") else list(v) if isinstance(v, tuple) else v) for k, v in asdict(p).items()
    }


def citation_out(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n,
        "chunk_id": c.chunk_id,
        "document_id": c.document_id,
        "external_id": c.external_id,
        "text": c.text,
        "page": c.page,
        "section_path": list(c.section_path),
        "section": " > ".join(c.section_path) or None,
        "span": span(c.start, c.end),
        "score": round(c.score, 4),
    }


def answer_out(a: Answer) -> dict[str, Any]:
    return {
        "question": a.question,
        "answer": a.answer,
        "refused": a.refused,
        "reason": a.reason,
        "citations": [citation_out(c) for c in a.citations],
        "support": a.support,
        "repaired": a.repaired,
        "verdicts": [v.to_dict() for v in a.verdicts],
        "source": a.source,
        "model": a.model,
        "label": a.label,
        "provenance": a.provenance,
        "notices": list(a.notices),
        "gate": a.gate,
        "faq": a.faq or None,
        "guard": a.guard,
        "request_id": a.request_id,
        "timings_ms": a.timings_ms,
    }


def job_out(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "payload"}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)
