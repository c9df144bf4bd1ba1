"""Checking the guards: what the input, document or output guard says about a text, with the caller's policy."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from app.api.auth import Querier
from app.api.deps import ServicesDep

router = APIRouter(prefix="/v1/guard", tags=["guard"])


class GuardCheckIn(BaseModel):
    text: str = Field(..., max_length=200_000)
    kind: Literal["input", "document", "output"] = "input"


@router.post("/check")
def check(body: GuardCheckIn, services: ServicesDep, caller: Querier) -> dict[str, Any]:
    """`{flagged, categories, score, reason, action}`: flagged = a category the policy blocks was found; action =
    what the answer path would do (block / guide / allow)."""
    if services.guard is None:
        raise HTTPException(503, "the guards are switched off (GROUNDED_GUARDS__ENABLED)")
    answers = services.answers.guards
    policy = answers.policy_for(caller.tenant) if answers is not None else None
    r = services.guard.check(body.text, body.kind, policy)
    return {
        "flagged": r.flagged,
        "categories": list(r.categories),
        "score": round(float(r.score), 4),
        "reason": r.reason,
        "action": r.action,
        "kind": body.kind,
    }
