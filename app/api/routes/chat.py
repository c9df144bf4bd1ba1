"""OpenAI-compatible chat: `POST /v1/chat/completions` and `GET /v1/models`.

The official `openai` client works unmodified (streaming included). The model name selects a collection of the
caller's tenant (`handbook` or `grounded/handbook`); the last user message is the question. The reply text carries
the citations as footnotes; the full grounding (citations, support, verdicts, label, provenance) travels in the extra
field `grounding` of the completion (and of the last chunk when streaming).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.answer.service import AnswerEvent
from app.api.auth import Querier, Reader
from app.api.deps import KbDep
from app.api.routes.query import SSE_HEADERS
from app.api.schemas import answer_out
from app.core.grounding import Answer

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
PREFIX = "grounded/"


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, user… are accepted and ignored
    model: str = Field(..., min_length=1, description="a collection name (optionally prefixed `grounded/`)")
    messages: list[ChatMessageIn] = Field(..., min_length=1)
    stream: bool = False
    n: int = Field(1, ge=1, le=1, description="only one choice")
    top_k: int | None = Field(None, ge=1, le=1000, description="passages retrieved (extension)")


@router.get("/models")
def models(kb: KbDep, caller: Reader) -> dict[str, Any]:
    """The caller's collections as models."""
    data = [
        {"id": c["name"], "object": "model", "created": _epoch(c.get("created_at")), "owned_by": caller.tenant}
        for c in kb.list_collections(caller.tenant)
    ]
    return {"object": "list", "data": data}


@router.post(
    "/chat/completions",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}, "description": "with `stream: true`: chunks, then [DONE]"}},
)
def chat_completions(body: ChatIn, kb: KbDep, caller: Querier) -> JSONResponse | StreamingResponse:
    collection = body.model.removeprefix(PREFIX)
    question = _question(body.messages)
    args = (caller.tenant, collection, question, body.top_k, None, None, caller.groups)
    created = int(time.time())
    if not body.stream:
        a = kb.answer(*args)
        message = {"role": "assistant", "content": compose(a)}
        out = {
            "id": f"chatcmpl-{a.request_id}",
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": _usage(question, message["content"]),
            "grounding": answer_out(a),
        }
        return JSONResponse(out)
    events = kb.answer_stream(*args)  # 404 / 422 before the stream starts
    return StreamingResponse(_chunks(events, body.model, created), media_type="text/event-stream", headers=SSE_HEADERS)


def compose(a: Answer, streamed: bool = False) -> str:
    """The reply text: the answer (or refusal), its notices, and the citations as footnotes."""
    parts = [] if streamed else [a.answer]
    parts += [f"Note: {n}" for n in a.notices]
    if a.citations:
        parts.append("\n".join(_footnote(c) for c in a.citations))
    return "\n\n".join(p for p in parts if p)


def _footnote(c: Any) -> str:
    where = c.external_id or c.document_id
    page = f", p. {c.page}" if c.page else ""
    excerpt = " ".join(c.text.split())
    excerpt = excerpt if len(excerpt) <= 160 else excerpt[:157] + "…"
    return f"[{c.n}] {where}{page}: “{excerpt}”"


def _chunks(events: Iterator[AnswerEvent], model: str, created: int) -> Iterator[str]:
    chunk_id = ""
    sent_any = False

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": chunk_id or "chatcmpl-stream",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        for e in events:
            if e.answer is None:
                assert e.data is not None
                yield chunk({"content": (" " if sent_any else "") + e.data["text"]})
                sent_any = True
                continue
            a = e.answer
            chunk_id = f"chatcmpl-{a.request_id}"
            if a.refused:  # withdraws anything streamed: the refusal is the answer
                tail = ("\n\n" if sent_any else "") + compose(a)
            else:
                tail = compose(a, streamed=True)
                tail = f"\n\n{tail}" if tail else ""
            if tail:
                yield chunk({"content": tail})
            yield chunk({}, "stop", grounding=answer_out(a))
    except Exception as exc:  # headers are sent: report in-band as OpenAI-style error data
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': exc.__class__.__name__}})}\n\n"
    yield "data: [DONE]\n\n"


def _question(messages: list[ChatMessageIn]) -> str:
    for m in reversed(messages):
        if m.role == "user":
            text = m.content if isinstance(m.content, str) else _text_parts(m.content or [])
            if text.strip():
                return text
    raise HTTPException(422, "messages must contain a user message with text")


def _text_parts(parts: list[dict[str, Any]]) -> str:
    return " ".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def _usage(question: str, reply: str) -> dict[str, int]:
    """Approximate token counts (words): there is no tokenizer shared by every generator."""
    p, c = len(question.split()), len(reply.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _epoch(value: Any) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(value)).timestamp())
    except ValueError:
        return 0
