"""The standard Q&A library: curated question → approved answer per collection, versioned; bulk import; a match
endpoint to try questions. Reads need a reader key, writes an editor (or admin) key; everything is scoped to the
key's tenant (another tenant's entry is a 404)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile

from app.api.auth import Ingester, Reader
from app.api.deps import KbDep
from app.api.faq_schemas import FaqIn, FaqMatchIn, FaqUpdateIn, faq_match_out
from app.core.errors import InvalidInputError
from app.core.settings import get_settings
from app.faq import FaqImportError, FaqService

router = APIRouter(prefix="/v1/faq", tags=["faq"])

MAX_IMPORT_BYTES = 20 * 1024 * 1024


def get_faq(request: Request) -> FaqService:
    faq = request.app.state.services.faq
    if faq is None:
        raise HTTPException(404, "the FAQ library is disabled (GROUNDED_ANSWER__FAQ=false)")
    return faq


FaqDep = Annotated[FaqService, Depends(get_faq)]
Collection = Annotated[str, Query(min_length=1, max_length=64, description="the collection of the library")]
ExpectedVersion = Annotated[int | None, Query(ge=1, description="409 unless this is the entry's current version")]


@router.get("")
def list_entries(
    collection: Collection,
    faq: FaqDep,
    kb: KbDep,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    include_deleted: bool = False,
) -> dict[str, Any]:
    kb.get_collection(caller.tenant, collection)
    return faq.list(caller.tenant, collection, limit, offset, include_deleted)


@router.post("", status_code=201)
def create_entry(body: FaqIn, faq: FaqDep, kb: KbDep, caller: Ingester) -> dict[str, Any]:
    kb.get_collection(caller.tenant, body.collection)
    return faq.create(
        caller.tenant,
        body.collection,
        body.question,
        body.answer,
        body.alt_questions,
        body.tags,
        body.active,
        actor=caller.key_id,
    )


@router.post("/import", max_body_size=get_settings().max_upload_request_bytes)
def import_entries(
    collection: Collection,
    faq: FaqDep,
    kb: KbDep,
    caller: Ingester,
    file: Annotated[UploadFile, File(description="CSV (question, answer, alt_questions, tags) or JSONL")],
    mode: Literal["upsert", "replace"] = "upsert",
    format: Literal["csv", "jsonl"] | None = None,  # noqa: A002 - the public query parameter's name
) -> dict[str, Any]:
    """All or nothing: any bad row is a 422 whose `detail` lists every bad row (`loc: ["file", "row", n, field]`).
    `replace` also deletes the live entries that the file does not contain."""
    kb.get_collection(caller.tenant, collection)
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise HTTPException(413, f"import file larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
    try:
        return faq.import_file(caller.tenant, collection, data, file.filename or "", mode, format, caller.key_id)
    except FaqImportError as e:
        detail = [
            {"loc": ["file", "row", err["row"], *([err["field"]] if err["field"] else [])], "msg": err["error"],
             "type": "faq_import"}
            for err in e.errors
        ]  # fmt: skip
        raise HTTPException(422, detail) from e


@router.post("/match")
def match(body: FaqMatchIn, faq: FaqDep, kb: KbDep, caller: Reader) -> dict[str, Any]:
    """What `/v1/answer` would serve from the library for this question (`match`, or null) and the best
    `candidates` with their scores, below the threshold too."""
    kb.get_collection(caller.tenant, body.collection)
    found = faq.match(caller.tenant, body.collection, body.question)
    near = faq.candidates(caller.tenant, body.collection, body.question)
    return {
        "match": faq_match_out(found) if found else None,
        "threshold": faq.threshold,
        "candidates": [faq_match_out(c) for c in near],
    }


@router.get("/{entry_id}")
def get_entry(entry_id: str, faq: FaqDep, caller: Reader) -> dict[str, Any]:
    return faq.get(caller.tenant, entry_id)


@router.put("/{entry_id}")
def update_entry(entry_id: str, body: FaqUpdateIn, faq: FaqDep, caller: Ingester) -> dict[str, Any]:
    changes = body.changes()
    if not changes:
        raise InvalidInputError("nothing to update: give question, answer, alt_questions, tags or active", "body")
    if any(v is None for v in changes.values()):
        raise InvalidInputError("fields may be left out but not null", next(k for k, v in changes.items() if v is None))
    return faq.update(caller.tenant, entry_id, **changes, expected_version=body.expected_version, actor=caller.key_id)


@router.delete("/{entry_id}")
def delete_entry(
    entry_id: str, faq: FaqDep, caller: Ingester, expected_version: ExpectedVersion = None
) -> dict[str, Any]:
    """Soft delete: the entry no longer matches or lists; its history stays and a version can be restored."""
    return faq.delete(caller.tenant, entry_id, expected_version, actor=caller.key_id)


@router.get("/{entry_id}/versions")
def entry_versions(entry_id: str, faq: FaqDep, caller: Reader) -> dict[str, Any]:
    return {"id": entry_id, "versions": faq.versions(caller.tenant, entry_id)}


@router.post("/{entry_id}/restore/{version}")
def restore_entry(
    entry_id: str, version: int, faq: FaqDep, caller: Ingester, expected_version: ExpectedVersion = None
) -> dict[str, Any]:
    """The content of `version` becomes current again, as a new version (also undoes a delete)."""
    if version < 1:
        raise InvalidInputError("version must be >= 1", "version")
    return faq.restore(caller.tenant, entry_id, version, expected_version, actor=caller.key_id)
