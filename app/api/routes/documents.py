"""Documents, their chunks, and ingestion jobs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.api.auth import Deleter, Reader
from app.api.deps import KbDep
from app.api.schemas import chunk_out, document_out, job_out

router = APIRouter(tags=["documents"])


@router.get("/v1/documents/{document_id}")
def get_document(document_id: str, kb: KbDep, caller: Reader) -> dict[str, Any]:
    return document_out(kb.get_document(caller.tenant, document_id, caller.groups))


@router.delete("/v1/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(document_id: str, kb: KbDep, caller: Deleter) -> Response:
    kb.delete_document(caller.tenant, document_id, caller.groups)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/documents/{document_id}/chunks")
def document_chunks(
    document_id: str,
    kb: KbDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    chunks = kb.document_chunks(caller.tenant, document_id, limit, offset, caller.groups)
    return {"document_id": document_id, "chunks": [chunk_out(c) for c in chunks], "limit": limit, "offset": offset}


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, kb: KbDep, caller: Reader) -> dict[str, Any]:
    return job_out(kb.get_job(caller.tenant, job_id))


_TERMINAL = {"succeeded", "failed", "partial"}


@router.get(
    "/v1/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
async def job_events(
    job_id: str,
    request: Request,
    kb: KbDep,
    caller: Reader,
    interval: Annotated[float, Query(ge=0.05, le=10, description="seconds between polls of the job")] = 0.5,
) -> StreamingResponse:
    """Server-sent events: `progress` with the job each time it changes, then one `done` event at the end.

    Works for every runner: the job record in the metadata store is the source of truth.
    """
    tenant = caller.tenant
    first = kb.get_job(tenant, job_id)  # 404 before the stream starts

    async def events() -> AsyncIterator[str]:
        job, last, beat = first, "", time.monotonic()
        while True:
            body = json.dumps(job_out(job), ensure_ascii=False)
            if body != last:
                kind = "done" if job["status"] in _TERMINAL else "progress"
                yield f"event: {kind}\nid: {job['updated_at']}\ndata: {body}\n\n"
                last, beat = body, time.monotonic()
                if kind == "done":
                    return
            elif time.monotonic() - beat > 15:
                yield ": keep-alive\n\n"  # proxies drop idle connections
                beat = time.monotonic()
            if await request.is_disconnected():
                return
            await asyncio.sleep(interval)
            job = await asyncio.to_thread(kb.get_job, tenant, job_id)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
