"""KnowledgeBase: the operations the HTTP API and the CLI call. Thin over the stages; owns no stage order.

Collections, uploads (store originals, pre-check, queue a job), documents, chunks, retrieval and answers.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from app.adapters.originals import remove_original
from app.answer.service import AnswerEvent, AnswerService
from app.core.domain import Chunk, Document, Query, Retrieval
from app.core.errors import InvalidInputError, NotFoundError
from app.core.filters import Filter, eq, scope_filter
from app.core.grounding import Answer
from app.core.ports import ChunkStore, MetadataStore
from app.uploads import Upload, UploadResult, Uploads, check_template, parse_schema
from retrievers.service import RetrievalService

log = logging.getLogger(__name__)


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
        fetch_url: Callable[[str], Any] | None = None,
        max_urls: int = 20,
        cipher: Any | None = None,
    ) -> None:
        self.metadata, self.store, self.submit = metadata, store, submit
        self.retriever, self.answers, self.precheck = retriever, answers, precheck
        self.originals_dir = Path(originals_dir)
        self.max_file_bytes = max_file_bytes
        self.max_top_k = max_top_k
        self.default_top_k = default_top_k
        self.max_files = max_files
        self.embedder_names = embedder_names
        self.uploads = Uploads(
            metadata, submit, precheck, self.originals_dir, max_file_bytes, max_files, max_urls, cipher
        )
        self.fetch_url = fetch_url

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
        """Delete a collection: its chunks and vectors, its document records, its stored originals, its FAQ."""
        self.metadata.get_collection(tenant, name)
        self.store.delete_collection(tenant, name)
        self.store.flush()
        self.metadata.delete_collection(tenant, name)
        shutil.rmtree(self.originals_dir / tenant / name, ignore_errors=True)
        if self.answers.faq is not None:
            self.answers.faq.purge_collection(tenant, name)

    # -- uploads (app/uploads.py) ----------------------------------------------------------------------------
    def upload(self, tenant: str, collection: str, files: Iterable[Upload], *args: Any, **kwargs: Any) -> UploadResult:
        """See `Uploads.upload`."""
        return self.uploads.upload(tenant, collection, files, *args, **kwargs)

    def ingest_urls(self, tenant: str, collection: str, urls: list[str], **options: Any) -> UploadResult:
        """See `Uploads.upload_urls`: fetch (SSRF-safe) and ingest web pages and files."""
        if self.fetch_url is None:
            raise InvalidInputError("URL ingestion is not configured", "urls")
        return self.uploads.upload_urls(tenant, collection, urls, self.fetch_url, **options)

    def reindex_collection(self, tenant: str, collection: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """See `Uploads.reindex_collection`."""
        return self.uploads.reindex_collection(tenant, collection, *args, **kwargs)

    def get_job(self, tenant: str, job_id: str) -> dict:
        return self.metadata.get_job(tenant, job_id)

    # -- documents ---------------------------------------------------------------------------------------------
    # `groups` are the caller's ACL groups (None = unrestricted): a document outside them does not exist for the
    # caller (404, never 403, so its existence does not leak).
    def list_documents(
        self,
        tenant: str,
        collection: str,
        limit: int = 100,
        offset: int = 0,
        groups: tuple[str, ...] | None = None,
    ) -> list[Document]:
        self.metadata.get_collection(tenant, collection)
        if groups is None:
            return self.metadata.list_documents(tenant, collection, limit, offset)
        visible: list[Document] = []
        page_at = 0
        while len(visible) < offset + limit:
            page = self.metadata.list_documents(tenant, collection, 500, page_at)
            visible.extend(d for d in page if _sees(groups, d.acl_groups))
            if len(page) < 500:
                break
            page_at += 500
        return visible[offset : offset + limit]

    def get_document(self, tenant: str, document_id: str, groups: tuple[str, ...] | None = None) -> Document:
        doc = self.metadata.get_document(tenant, document_id)
        if not _sees(groups, doc.acl_groups):
            raise NotFoundError("document", document_id)
        return doc

    def document_chunks(
        self,
        tenant: str,
        document_id: str,
        limit: int = 1000,
        offset: int = 0,
        groups: tuple[str, ...] | None = None,
    ) -> list[Chunk]:
        doc = self.get_document(tenant, document_id, groups)
        # The ACL goes into the store query too: what the store returns is what the caller may see.
        flt = scope_filter(
            tenant, None, groups, Filter(must=[eq("document_id", doc.id), eq("doc_hash", doc.content_hash)])
        )
        return self.store.list_chunks(flt, limit, offset)

    def delete_document(self, tenant: str, document_id: str, groups: tuple[str, ...] | None = None) -> Document:
        """Chunks (and their vectors) first, then the record, then the stored original once no other document of
        the same file (a corpus) refers to it: a failure in between leaves a record to retry the delete from."""
        doc = self.get_document(tenant, document_id, groups)
        self.store.delete_document(tenant, doc.id)
        self.store.flush()
        self.metadata.delete_document(tenant, doc.id)
        if doc.source_path and self.metadata.count_documents_by_source(doc.source_path) == 0:
            remove_original(doc.source_path)
        return doc

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
        soft_filters: Filter | None,
        groups: tuple[str, ...] | None,
    ) -> Query:
        coll = self.metadata.get_collection(tenant, collection)
        k = top_k or self.default_top_k
        if not 1 <= k <= self.max_top_k:
            raise InvalidInputError(f"top_k must be between 1 and {self.max_top_k}", "top_k")
        embedder = coll.get("embedder") or "default"
        return Query(text, collection, tenant, k, groups, filters, soft_filters, embedder)

    def retrieve(
        self,
        tenant: str,
        collection: str,
        text: str,
        top_k: int | None = None,
        filters: Filter | None = None,
        soft_filters: Filter | None = None,
        groups: tuple[str, ...] | None = None,
    ) -> Retrieval:
        if not text.strip():
            raise InvalidInputError("query must not be empty", "query")
        return self.retriever.run(self._query(tenant, collection, text, top_k, filters, soft_filters, groups))

    def answer(
        self,
        tenant: str,
        collection: str,
        question: str,
        top_k: int | None = None,
        filters: Filter | None = None,
        soft_filters: Filter | None = None,
        groups: tuple[str, ...] | None = None,
    ) -> Answer:
        return self.answers.answer(self._query(tenant, collection, question, top_k, filters, soft_filters, groups))

    def answer_stream(
        self,
        tenant: str,
        collection: str,
        question: str,
        top_k: int | None = None,
        filters: Filter | None = None,
        soft_filters: Filter | None = None,
        groups: tuple[str, ...] | None = None,
    ) -> Iterator[AnswerEvent]:
        """The verified sentences as they are produced, then the final answer (see `AnswerService.stream`).
        Unknown collections and bad input raise here, before the first event."""
        return self.answers.stream(self._query(tenant, collection, question, top_k, filters, soft_filters, groups))


def _sees(groups: tuple[str, ...] | None, acl: tuple[str, ...]) -> bool:
    """Whether a caller with these groups (None = unrestricted) may see a document with this ACL (() = public)."""
    return groups is None or not acl or bool(set(acl) & set(groups))
