"""Uploads and re-indexing: store the originals, reject what cannot be ingested, queue one job per upload."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from app.adapters.originals import read_sidecar, write_sidecar
from app.core.domain import Document, JobStatus
from app.core.errors import InvalidInputError, RejectedFileError, UploadRejectedError
from app.core.ports import MetadataStore
from app.upload_checks import (
    check_template,
    document_ids,
    parse_schema,
    safe_name,
    save,
    url_name,
    validate_metadata,
)
from ingest.jobs import new_file_entry

_STATUS_FOR_CODE = {"too_large": 413, "unsupported_type": 415}


@dataclass(frozen=True)
class Upload:
    """One file of an upload: its name and a readable binary stream."""

    filename: str
    stream: BinaryIO | None
    source_uri: str | None = None  # where the file came from (a fetched URL), recorded on its document
    rejected: tuple[str, str] | None = None  # (code, reason): the file failed before it arrived (a URL fetch)


@dataclass(frozen=True)
class UploadResult:
    job_id: str
    document_ids: list[str]
    rejected: list[dict[str, str]]


class Uploads:
    """Usage::

    uploads = Uploads(metadata, runner.submit, precheck, Path("data/originals"), max_file_bytes=50 << 20)
    result = uploads.upload("default", "handbook", [Upload("a.pdf", open("a.pdf", "rb"))])
    """

    def __init__(
        self,
        metadata: MetadataStore,
        submit: Callable[[str, str], None],
        precheck: Callable[[str, bytes, int], None],
        originals_dir: Path,
        max_file_bytes: int,
        max_files: int = 1000,
        max_urls: int = 20,
        cipher: Any | None = None,
    ) -> None:
        """Args: `cipher` (app.adapters.crypto.FileCipher) encrypts stored originals at rest."""
        self.metadata, self.submit, self.precheck = metadata, submit, precheck
        self.max_urls = max_urls
        self.cipher = cipher
        self.originals_dir = Path(originals_dir)
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files

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
        meta = validate_metadata(metadata or {})
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
            name = safe_name(up.filename)
            dest = folder / f"{i:04d}_{name}"
            try:
                if up.rejected or up.stream is None:
                    code, reason = up.rejected or ("empty", "no content")
                    raise RejectedFileError(up.filename, reason, code)
                size, head = save(up.stream, dest, self.max_file_bytes, name)
                self.precheck(name, head, size)
                ids = document_ids(tenant, collection, name, dest)
                if self.cipher is not None:
                    self.cipher.encrypt_file(dest, dest)
            except RejectedFileError as e:
                dest.unlink(missing_ok=True)
                shown = up.filename if up.rejected else name
                rejected.append({"filename": shown, "code": e.code, "reason": e.reason})
                entries.append(new_file_entry(shown, None, (e.code, e.reason)))
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
                "source_uri": up.source_uri,
            }
            kept = ("filename", "metadata", "acl_groups", "template_params", "source_uri")
            write_sidecar(dest, {k: spec[k] for k in kept})
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

    def upload_urls(
        self, tenant: str, collection: str, urls: list[str], fetch: Callable[[str], Any], **options: Any
    ) -> UploadResult:
        """Fetch each URL (SSRF-safe, see app/adapters/url_fetcher.py), then upload what arrived like files. A URL
        that cannot be fetched is listed in `rejected` and in the job with its code (`ssrf_blocked`, `timeout`...).

        A document's name is the URL's host and path, so fetching the same URL again replaces its document.
        """
        if not urls:
            raise InvalidInputError("no URLs given", "urls")
        if len(urls) > self.max_urls:
            raise InvalidInputError(f"at most {self.max_urls} URLs per request, got {len(urls)}", "urls")

        def attempt(url: str) -> tuple[str, Any]:
            try:
                return url, fetch(url)
            except RejectedFileError as e:
                return url, e

        with ThreadPoolExecutor(max_workers=min(4, len(urls))) as pool:
            results = list(pool.map(attempt, urls))
        ups, handles, fetched = [], [], []
        try:
            for url, got in results:
                if isinstance(got, RejectedFileError):
                    ups.append(Upload(url_name(url, ""), None, url, (got.code, got.reason)))
                    continue
                fetched.append(got)
                handles.append(open(got.path, "rb"))  # noqa: SIM115 - closed below
                ups.append(Upload(url_name(got.final_url, got.filename), handles[-1], got.final_url))
            return self.upload(tenant, collection, ups, **options)
        finally:
            for h in handles:
                h.close()
            for f in fetched:
                f.cleanup()

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
                    "source_uri": upload.get("source_uri"),
                }
            )
        if not specs:
            raise InvalidInputError("no stored original of this collection is left to re-index", "collection")
        job_id = self._queue_job(tenant, collection, str(uuid.uuid4()), entries, specs)
        return self.metadata.get_job(tenant, job_id)
