"""Retrieval and grounded answers (plain JSON, or server-sent events with `stream: true`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from app.answer.service import AnswerEvent
from app.api.auth import Querier
from app.api.deps import KbDep
from app.api.schemas import AnswerIn, RetrieveIn, answer_out, retrieval_out

router = APIRouter(prefix="/v1", tags=["query"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# These are the hot paths: the mappers already build plain JSON values, so they go straight to JSONResponse
# instead of through FastAPI's generic response validation and encoding of a dict[str, Any].


@router.post("/retrieve", response_model=None)
def retrieve(body: RetrieveIn, kb: KbDep, caller: Querier) -> JSONResponse:
    r = kb.retrieve(
        caller.tenant, body.collection, body.query, body.top_k, body.filters, body.soft_filters, caller.groups
    )
    return JSONResponse(retrieval_out(r, explain=body.explain))


@router.post(
    "/answer",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}, "description": "with `stream: true`: server-sent events"}},
)
def answer(body: AnswerIn, kb: KbDep, caller: Querier) -> JSONResponse | StreamingResponse:
    """A cited answer whose every sentence was verified against its passage, or a refusal with the reason.

    With `stream: true` the response is server-sent events: `sentence` ({text, citations, supported, score}) for each
    verified sentence as it is produced, then one `final` event with the whole answer object (citations, support,
    verdicts, label, provenance). A `final` with `refused: true` withdraws what was streamed.
    """
    args = (caller.tenant, body.collection, body.question, body.top_k, body.filters, body.soft_filters, caller.groups)
    if not body.stream:
        return JSONResponse(answer_out(kb.answer(*args)))
    events = kb.answer_stream(*args)  # unknown collection / bad input → 4xx before the stream starts
    return StreamingResponse(sse(events), media_type="text/event-stream", headers=SSE_HEADERS)


def sse(events: Iterator[AnswerEvent]) -> Iterator[str]:
    """Answer events as server-sent events; an error after the stream started becomes an `error` event."""
    try:
        for e in events:
            if e.answer is not None:
                yield _event("final", answer_out(e.answer))
            else:
                yield _event(e.kind, e.data)
    except Exception as exc:  # the status line is already sent: report in-band, never a half-silent stream
        yield _event("error", {"detail": str(exc) or exc.__class__.__name__, "code": exc.__class__.__name__})


def _event(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
