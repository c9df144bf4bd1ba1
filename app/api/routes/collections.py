"""Collections and uploads."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from app.api.auth import Deleter, Ingester, Reader
from app.api.deps import KbDep
from app.api.schemas import CollectionIn, ReindexIn, UrlsIn, document_out, job_out
from app.core.errors import InvalidInputError
from app.core.settings import get_settings
from app.knowledge import Upload

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_collection(body: CollectionIn, kb: KbDep, caller: Ingester) -> dict[str, Any]:
    return kb.create_collection(
        caller.tenant, body.name, body.template, body.description, body.embedder, body.metadata_schema
    )


@router.delete("/{collection}", status_code=status.HTTP_204_NO_CONTENT)
def delete_collection(collection: str, kb: KbDep, caller: Deleter) -> Response:
    kb.delete_collection(caller.tenant, collection)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{collection}/reindex", status_code=status.HTTP_202_ACCEPTED)
def reindex_collection(collection: str, body: ReindexIn, kb: KbDep, caller: Ingester) -> dict[str, Any]:
    return job_out(kb.reindex_collection(caller.tenant, collection, body.template, body.template_params))


@router.get("")
def list_collections(kb: KbDep, caller: Reader) -> dict[str, Any]:
    return {"collections": kb.list_collections(caller.tenant)}


@router.get("/{collection}")
def get_collection(collection: str, kb: KbDep, caller: Reader) -> dict[str, Any]:
    return kb.get_collection(caller.tenant, collection)


@router.post(
    "/{collection}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    max_body_size=get_settings().max_upload_request_bytes,
)
def upload_documents(
    collection: str,
    kb: KbDep,
    caller: Ingester,
    files: Annotated[list[UploadFile], File(description="one or more files")],
    metadata: Annotated[str | None, Form(description="JSON object applied to every file")] = None,
    acl_groups: Annotated[str | None, Form(description="comma-separated or JSON list of groups")] = None,
    template: Annotated[str | None, Form(description="chunk template; default: the collection's")] = None,
    template_params: Annotated[str | None, Form(description="JSON object: the template's parameters")] = None,
) -> dict[str, Any]:
    meta = _json_object(metadata, "metadata")
    params = _json_object(template_params, "template_params")
    groups = _groups(acl_groups)
    ups = [Upload(f.filename or "", f.file) for f in files]
    result = kb.upload(caller.tenant, collection, ups, meta, groups, template, params)
    return {"job_id": result.job_id, "document_ids": result.document_ids, "rejected": result.rejected}


@router.post("/{collection}/urls", status_code=status.HTTP_202_ACCEPTED)
def ingest_urls(collection: str, body: UrlsIn, kb: KbDep, caller: Ingester) -> dict[str, Any]:
    """Fetch web pages and files (SSRF-safe: private, loopback, link-local and metadata addresses refused, also
    after redirects) and ingest them; a URL that cannot be fetched is listed in `rejected` with its code."""
    result = kb.ingest_urls(
        caller.tenant,
        collection,
        body.urls,
        metadata=body.metadata,
        acl_groups=body.acl_groups or [],
        template=body.template,
        template_params=body.template_params,
    )
    return {"job_id": result.job_id, "document_ids": result.document_ids, "rejected": result.rejected}


@router.get("/{collection}/documents")
def list_documents(
    collection: str,
    kb: KbDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    docs = kb.list_documents(caller.tenant, collection, limit, offset, caller.groups)
    return {"documents": [document_out(d) for d in docs], "limit": limit, "offset": offset}


def _json_object(raw: str | None, field: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InvalidInputError(f"{field} is not valid JSON: {e.msg} at position {e.pos}", field) from e
    if not isinstance(value, dict):
        raise InvalidInputError(f"{field} must be a JSON object", field)
    return value


def _groups(raw: str | None) -> list[str]:
    if not raw:
        return []
    raw = raw.strip()
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InvalidInputError("acl_groups is not a valid JSON list", "acl_groups") from e
        if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
            raise InvalidInputError("acl_groups must be a list of strings", "acl_groups")
        return value
    return [g.strip() for g in raw.split(",") if g.strip()]
