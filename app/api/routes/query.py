"""Retrieval and grounded answers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import KbDep, TenantDep
from app.api.schemas import AnswerIn, RetrieveIn, answer_out, retrieval_out

router = APIRouter(prefix="/v1", tags=["query"])


# These are the hot paths: the mappers already build plain JSON values, so they go straight to JSONResponse
# instead of through FastAPI's generic response validation and encoding of a dict[str, Any].


@router.post("/retrieve", response_model=None)
def retrieve(body: RetrieveIn, kb: KbDep, tenant: TenantDep) -> JSONResponse:
    r = kb.retrieve(tenant, body.collection, body.query, body.top_k, body.filters, body.soft_filters)
    return JSONResponse(retrieval_out(r, explain=body.explain))


@router.post("/answer", response_model=None)
def answer(body: AnswerIn, kb: KbDep, tenant: TenantDep) -> JSONResponse:
    a = kb.answer(tenant, body.collection, body.question, body.top_k, body.filters, body.soft_filters)
    return JSONResponse(answer_out(a))
