"""Documents, their chunks, and ingestion jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.api.deps import KbDep, TenantDep
from app.api.schemas import chunk_out, document_out, job_out

router = APIRouter(tags=["documents"])


@router.get("/v1/documents/{document_id}")
def get_document(document_id: str, kb: KbDep, tenant: TenantDep) -> dict[str, Any]:
    return document_out(kb.get_document(tenant, document_id))


@router.delete("/v1/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(document_id: str, kb: KbDep, tenant: TenantDep) -> Response:
    kb.delete_document(tenant, document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/documents/{document_id}/chunks")
def document_chunks(
    document_id: str,
    kb: KbDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    chunks = kb.document_chunks(tenant, document_id, limit, offset)
    return {"document_id": document_id, "chunks": [chunk_out(c) for c in chunks], "limit": limit, "offset": offset}


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, kb: KbDep, tenant: TenantDep) -> dict[str, Any]:
    return job_out(kb.get_job(tenant, job_id))
