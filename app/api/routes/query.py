"""Retrieval and grounded answers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.auth import Querier
from app.api.deps import KbDep
from app.api.schemas import AnswerIn, RetrieveIn, answer_out, retrieval_out

router = APIRouter(prefix="/v1", tags=["query"])


# These are the hot paths: the mappers already build plain JSON values, so they go straight to JSONResponse
# instead of through FastAPI's generic response validation and encoding of a dict[str, Any].


@router.post("/retrieve", response_model=None)
def retrieve(body: RetrieveIn, kb: KbDep, caller: Querier) -> JSONResponse:
    r = kb.retrieve(
        caller.tenant, body.collection, body.query, body.top_k, body.filters, body.soft_filters, caller.groups
    )
    return JSONResponse(retrieval_out(r, explain=body.explain))


@router.post("/answer", response_model=None)
def answer(body: AnswerIn, kb: KbDep, caller: Querier) -> JSONResponse:
    a = kb.answer(
        caller.tenant, body.collection, body.question, body.top_k, body.filters, body.soft_filters, caller.groups
    )
    return JSONResponse(answer_out(a))
