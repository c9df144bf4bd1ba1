"""KnowledgeBase: the operations the HTTP API and the CLI call. Thin over the stages; owns no stage order.

Collections, uploads (store originals, pre-check, queue a job), documents, chunks, retrieval and answers.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from app.adapters.originals import read_sidecar, remove_original, write_sidecar
from app.answer.service import AnswerService
from app.core.domain import Answer, Chunk, Document, JobStatus, Query, Retrieval
from app.core.errors import InvalidInputError, RejectedFileError, UploadRejectedError
from app.core.filters import Filter, eq, scope_filter
from app.core.metadata_schema import MetadataSchema
from app.core.ports import ChunkStore, MetadataStore
from ingest.jobs import new_file_entry
from ingest.pipeline import document_id_for
from ingest.templates import get_template
from retrievers.service import RetrievalService

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^\w.\-() \u4e00-\u9fff]+")
_STATUS_FOR_CODE = {"too_large": 413, "unsupported_type": 415}


@dataclass(frozen=True)
class Upload:
    """One file of an upload: its name and a readable binary stream."""

    filename: str
    stream: BinaryIO


@dataclass(frozen=True)
class UploadResult:
    job_id: str
    document_ids: list[str]
    rejected: list[dict[str, str]]


class KnowledgeBase:
    """Usage::

    kb = build_services(settings).kb
    kb.create_collection("default", "handbook")
    result = kb.upload("default", "handbook", [Upload("a.pdf", open("a.pdf", "rb"))])
    """

    def __init__(
        self,
        metadata: MetadataStore,
        store: ChunkStore,
        submit: Callable[[str, str], None],
        retriever: RetrievalService,
        answers: AnswerService,
        precheck: Callable[[str, bytes, int], None],
        originals_dir: Path,
        max_file_bytes: int,
        max_top_k: int = 100,
        default_top_k: int = 5,
        max_files: int = 1000,
        embedder_names: tuple[str, ...] = ("default",),
    ) -> None:
        self.metadata, self.store, self.submit = metadata, store, submit
        self.retriever, self.answers, self.precheck = retriever, answers, precheck
        self.originals_dir = Path(originals_dir)
        self.max_file_bytes = max_file_bytes
        self.max_top_k = max_top_k
        self.default_top_k = default_top_k
        self.max_files = max_files
        self.embedder_names = embedder_names

    # -- collections -------------------------------------------------------------------------------------------
    def create_collection(
        self,
        tenant: str,
        name: str,
        template: str = "general",
        description: str = "",
        embedder: str = "default",
        metadata_schema: dict[str, Any] | None = None,
    ) -> dict:
        """Create a collection; `metadata_schema` types the user metadata its uploads may carry (see README)."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-.]{0,63}", name or ""):
            raise InvalidInputError("collection name: 1-64 chars of letters, digits, '_', '-', '.'", "name")
        check_template(template)
        if embedder not in self.embedder_names:
            valid = ", ".join(sorted(self.embedder_names))
            raise InvalidInputError(f"unknown embedder {embedder!r}; valid: {valid}", "embedder")
        schema = parse_schema(metadata_schema).describe() if metadata_schema is not None else None
        return self.metadata.create_collection(tenant, name, template, description, embedder, schema)

    def list_collections(self, tenant: str) -> list[dict]:
        return self.metadata.list_collections(tenant)

    def get_collection(self, tenant: str, name: str) -> dict:
        return self.metadata.get_collection(tenant, name)

    def delete_collection(self, tenant: str, name: str) -> None:
        """Delete a collection: its chunks and vectors, its document records, its stored originals."""
        self.metadata.get_collection(tenant, name)
        self.store.delete_collection(tenant, name)
        self.store.flush()
        self.metadata.delete_collection(tenant, name)
        shutil.rmtree(self.originals_dir / tenant / name, ignore_errors=True)

    # -- uploads -----------------------------------------------------------------------------------------------
    def upload(
        self,
        tenant: str,
        collection: str,
        files: Iterable[Upload],
        metadata: dict[str, Any] | None = None,
        acl_groups: Iterable[str] = (),
        template: str | None = None,
        template_params: dict[str, Any] | None = None,
    ) -> UploadResult:
        """Store the originals, reject what cannot be ingested, queue one job for the rest."""
        coll = self.metadata.get_collection(tenant, collection)
        template = template or coll["template"]
        params = check_template(template, template_params)
        meta = _validate_metadata(metadata or {})
        if coll.get("metadata_schema"):
            meta = parse_schema(coll["metadata_schema"]).validate_values(meta)
        acl = tuple(sorted({str(g) for g in acl_groups if str(g).strip()}))
        job_id = str(uuid.uuid4())
        folder = self.originals_dir / tenant / collection / job_id
        entries, specs, doc_ids, rejected = [], [], [], []
        files = list(files)
        if len(files) > self.max_files:
            raise InvalidInputError(f"at most {self.max_files} files per upload, got {len(files)}", "files")
        for i, up in enumerate(files):
            name = _safe_name(up.filename)
            dest = folder / f"{i:04d}_{name}"
            try:
                size, head = _save(up.stream, dest, self.max_file_bytes, name)
                self.precheck(name, head, size)
                ids = _document_ids(tenant, collection, name, dest)
            except RejectedFileError as e:
                dest.unlink(missing_ok=True)
                rejected.append({"filename": name, "code": e.code, "reason": e.reason})
                entries.append(new_file_entry(name, None, (e.code, e.reason)))
                continue
            doc_ids.extend(ids)
            entries.append(new_file_entry(name, ids))
            spec = {
                "path": str(dest),
                "filename": name,
                "template": template,
                "template_params": params,
                "metadata": meta,
                "acl_groups": acl,
                "embedder": coll.get("embedder") or "default",
            }
            write_sidecar(dest, {k: spec[k] for k in ("filename", "metadata", "acl_groups", "template_params")})
            specs.append(spec)
        if not entries:
            raise InvalidInputError("no files in the upload (multipart field 'files')", "files")
        if not specs:
            shutil.rmtree(folder, ignore_errors=True)
            codes = {r["code"] for r in rejected}
            status = _STATUS_FOR_CODE.get(codes.pop(), 422) if len(codes) == 1 else 422
            raise UploadRejectedError(rejected, status)
        job_id = self._queue_job(tenant, collection, job_id, entries, specs)
        return UploadResult(job_id, doc_ids, rejected)

    def _queue_job(
        self, tenant: str, collection: str, job_id: str, entries: list[dict], specs: list[dict[str, Any]]
    ) -> str:
        """Persist a job (files rejected up front stay in it as failed, so one record tells the whole story) and
        hand it to the runner."""
        pending = [e for e in entries if e["status"] == "queued"]
        payload_files = iter(specs)
        ordered_specs = [next(payload_files) if e["status"] == "queued" else None for e in entries]
        self.metadata.create_job(
            {
                "id": job_id,
                "tenant": tenant,
                "collection": collection,
                "status": JobStatus.QUEUED.value,
                "stage": "queued",
                "files": entries,
                "counts": {"files_total": len(entries), "files_pending": len(pending)},
                "payload": {"files": [s or {"skip": True} for s in ordered_specs]},
            }
        )
        self.submit(job_id, tenant)
        return job_id

    def reindex_collection(
        self,
        tenant: str,
        collection: str,
        template: str | None = None,
        template_params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Re-chunk and re-index every document of a collection from its stored original, e.g. with another
        template (which becomes the collection's default). Returns the job. Readers keep seeing the old chunks of
        a document until its new ones are indexed."""
        coll = self.metadata.get_collection(tenant, collection)
        template = template or coll["template"]
        params = check_template(template, template_params)
        if template != coll["template"]:
            self.metadata.update_collection(tenant, collection, template=template)
        sources: dict[str, Document] = {}
        offset = 0
        while page := self.metadata.list_documents(tenant, collection, 500, offset):
            for d in page:
                if d.source_path:
                    sources.setdefault(d.source_path, d)
            offset += len(page)
        if not sources:
            raise InvalidInputError(f"collection {collection!r} has no documents with a stored original", "collection")
        entries, specs = [], []
        for path, doc in sorted(sources.items()):
            upload = read_sidecar(path)
            name = upload.get("filename") or doc.filename
            if not Path(path).exists():
                entries.append(new_file_entry(name, [doc.id], ("missing_original", f"stored original {path} is gone")))
                continue
            entries.append(new_file_entry(name, [doc.id]))
            specs.append(
                {
                    "path": path,
                    "filename": name,
                    "template": template,
                    "template_params": params,
                    "metadata": upload.get("metadata") or {},
                    "acl_groups": list(upload.get("acl_groups") or doc.acl_groups),
                    "embedder": coll.get("embedder") or "default",
                }
            )
        if not specs:
            raise InvalidInputError("no stored original of this collection is left to re-index", "collection")
        job_id = self._queue_job(tenant, collection, str(uuid.uuid4()), entries, specs)
        return self.metadata.get_job(tenant, job_id)

    def get_job(self, tenant: str, job_id: str) -> dict:
        return self.metadata.get_job(tenant, job_id)

    # -- documents ---------------------------------------------------------------------------------------------
    def list_documents(self, tenant: str, collection: str, limit: int = 100, offset: int = 0) -> list[Document]:
        self.metadata.get_collection(tenant, collection)
        return self.metadata.list_documents(tenant, collection, limit, offset)

    def get_document(self, tenant: str, document_id: str) -> Document:
        return self.metadata.get_document(tenant, document_id)

    def document_chunks(self, tenant: str, document_id: str, limit: int = 1000, offset: int = 0) -> list[Chunk]:
        doc = self.metadata.get_document(tenant, document_id)
        flt = Filter(must=[eq("tenant", tenant), eq("document_id", doc.id), eq("doc_hash", doc.content_hash)])
        return self.store.list_chunks(flt, limit, offset)

    def delete_document(self, tenant: str, document_id: str) -> None:
        """Chunks (and their vectors) first, then the record, then the stored original once no other document of
        the same file (a corpus) refers to it: a failure in between leaves a record to retry the delete from."""
        doc = self.metadata.get_document(tenant, document_id)
        self.store.delete_document(tenant, doc.id)
        self.store.flush()
        self.metadata.delete_document(tenant, doc.id)
        if doc.source_path and self.metadata.count_documents_by_source(doc.source_path) == 0:
            remove_original(doc.source_path)

    def count_chunks(self, tenant: str, collection: str) -> int:
        return self.store.count(scope_filter(tenant, collection, None, None))

    # -- queries -----------------------------------------------------------------------------------------------
    def _query(
        self,
        tenant: str,
        collection: str,
        text: str,
        top_k: int | None,
        filters: Filter | None,
        soft_filters: Filter | None = None,
    ) -> Query:
        coll = self.metadata.get_collection(tenant, collection)
        k = top_k or self.default_top_k
        if not 1 <= k <= self.max_top_k:
            raise InvalidInputError(f"top_k must be between 1 and {self.max_top_k}", "top_k")
        embedder = coll.get("embedder") or "default"
        return Query(text, collection, tenant, k, filters=filters, soft_filters=soft_filters, embedder=embedder)

    def retrieve(
        self,
        tenant: str,
        collection: str,
        text: str,
        top_k: int | None = None,
        filters: Filter | None = None,
        soft_filters: Filter | None = None,
    ) -> Retrieval:
        if not text.strip():
            raise InvalidInputError("query must not be empty", "query")
        return self.retriever.run(self._query(tenant, collection, text, top_k, filters, soft_filters))

    def answer(
        self,
        tenant: str,
        collection: str,
        question: str,
        top_k: int | None = None,
        filters: Filter | None = None,
        soft_filters: Filter | None = None,
    ) -> Answer:
        return self.answers.answer(self._query(tenant, collection, question, top_k, filters, soft_filters))


def _safe_name(filename: str | None) -> str:
    base = Path((filename or "").replace("\\", "/")).name.strip()
    base = _SAFE.sub("_", base)[:200].strip(". ")
    return base or "unnamed"


def _save(stream: BinaryIO, dest: Path, limit: int, name: str) -> tuple[int, bytes]:
    """Copy the upload to disk, stopping as soon as it exceeds the size limit. Returns (size, first bytes)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    size, head = 0, b""
    with open(dest, "wb") as out:
        while block := stream.read(1 << 20):
            if not head:
                head = block[:8192]
            size += len(block)
            if size > limit:
                out.close()
                dest.unlink(missing_ok=True)
                raise RejectedFileError(name, f"file is larger than the limit of {limit} bytes", "too_large")
            out.write(block)
    return size, head


def _document_ids(tenant: str, collection: str, name: str, path: Path) -> list[str]:
    """Ids the upload answers with; a `.jsonl` corpus holds one document per line (its `_id`)."""
    if not name.lower().endswith(".jsonl"):
        return [document_id_for(tenant, collection, name)]
    ids = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                try:
                    ids.append(document_id_for(tenant, collection, str(json.loads(line)["_id"])))
                except (ValueError, KeyError, TypeError):
                    continue  # the parser reports the malformed line with its number
    return ids


def _validate_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise InvalidInputError("metadata must be a JSON object", "metadata")
    out = {}
    for k, v in meta.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}", str(k)):
            raise InvalidInputError(f"metadata key {k!r} must be an identifier (letters, digits, _ and -)", "metadata")
        if not (
            isinstance(v, str | int | float | bool) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        ):
            raise InvalidInputError(
                f"metadata value for {k!r} must be a string, number, bool or list of strings", "metadata"
            )
        out[str(k)] = v
    return out


def check_template(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a template name and its parameters (unknown template → 422 listing the valid ones)."""
    params = params or {}
    if not isinstance(params, dict):
        raise InvalidInputError("template_params must be a JSON object", "template_params")
    get_template(name)
    try:
        get_template(name, **params)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"template {name!r}: invalid parameters: {e}", "template_params") from e
    return dict(params)


def parse_schema(raw: dict[str, Any]) -> MetadataSchema:
    """A collection's metadata schema from its JSON form; a bad schema is an input error."""
    return MetadataSchema.parse(raw)
