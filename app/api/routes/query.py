"""Retrieval and grounded answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import KbDep, TenantDep
from app.api.schemas import AnswerIn, RetrieveIn, answer_out, retrieval_out

router = APIRouter(prefix="/v1", tags=["query"])


@router.post("/retrieve")
def retrieve(body: RetrieveIn, kb: KbDep, tenant: TenantDep) -> dict[str, Any]:
    r = kb.retrieve(tenant, body.collection, body.query, body.top_k, body.filters, body.soft_filters)
    return retrieval_out(r, explain=body.explain)


@router.post("/answer")
def answer(body: AnswerIn, kb: KbDep, tenant: TenantDep) -> dict[str, Any]:
    a = kb.answer(tenant, body.collection, body.question, body.top_k, body.filters, body.soft_filters)
    return answer_out(a)
