"""Verification on its own: check any answer against contexts, and check a provenance record."""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from app.answer.factory import build_verifier
from app.answer.verification import AnswerVerification
from app.api.auth import Querier, Reader
from app.api.deps import ServicesDep
from app.container import Services

router = APIRouter(prefix="/v1", tags=["grounding"])
_LOCK = threading.Lock()


class VerifyIn(BaseModel):
    answer: str = Field(..., min_length=1, max_length=20_000)
    contexts: list[str] = Field(
        ..., min_length=1, max_length=50, description="evidence passages; the answer's [n] cite them 1-based"
    )
    question: str = Field("", max_length=4000)
    verifier: Literal["fast", "llm"] | None = Field(None, description="default: the configured verifier (or fast)")


class ProvenanceVerifyIn(BaseModel):
    answer: str | None = Field(None, max_length=200_000, description="the answer text as received (optional)")
    provenance: dict[str, Any] = Field(..., description="the `provenance` object returned with the answer")


@router.post("/verify")
def verify(body: VerifyIn, request: Request, services: ServicesDep, caller: Querier) -> dict[str, Any]:
    """Per-sentence verdicts of `answer` against `contexts`: each sentence is checked against the contexts it cites
    ([n], 1-based), and if none supports it (or it cites none) against the others. `hallucinated` is true when any
    sentence is unsupported."""
    if any(len(c) > 20_000 for c in body.contexts):
        raise HTTPException(422, "each context must be at most 20000 characters")
    checker = _verification(services, request, body.verifier)
    t = time.perf_counter()
    result = checker.verify(body.question, body.answer, {i + 1: c for i, c in enumerate(body.contexts)})
    if not result.verdicts:
        raise HTTPException(422, "the answer has no sentence to verify")
    return {
        "hallucinated": any(not v.supported for v in result.verdicts),
        "support": result.support,
        "verdicts": [v.to_dict() for v in result.verdicts],
        "repaired_answer": result.text,
        "verifier": checker.verifier.name,
        "timings_ms": {"verify": round((time.perf_counter() - t) * 1000, 2)},
    }


@router.post("/provenance/verify")
def verify_provenance(body: ProvenanceVerifyIn, services: ServicesDep, caller: Reader) -> dict[str, Any]:
    """Whether a provenance record was issued by this service unchanged (`authentic`) and whether the answer text
    is the one it was issued for (`unmodified`; null when no answer is given). `valid` = both."""
    signer = services.answers.signer
    if signer is None:
        raise HTTPException(503, "provenance signing is not configured")
    return signer.verify(body.answer, body.provenance)


def _verification(services: Services, request: Request, kind: str | None) -> AnswerVerification:
    configured = services.answers.verification
    if configured is not None and (kind is None or kind == configured.verifier.name):
        return configured
    kind = kind or "fast"
    cache: dict[str, AnswerVerification] = request.app.state.__dict__.setdefault("verifiers", {})
    with _LOCK:
        if kind not in cache:
            verifier = build_verifier(services.settings, services.embedder, kind)
            assert verifier is not None
            verifier.warm_up()
            cache[kind] = AnswerVerification(verifier, "flag")
    return cache[kind]
