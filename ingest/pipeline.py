"""IngestPipeline.run(source) → report. The ONE place the ingest stage order is written:

parse → (skip unchanged) → chunk → embed → index new version → drop old version → record document.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from app.core.domain import Chunk, Document, ParsedDocument, Stage, content_hash, json_safe, stable_id
from app.core.errors import RejectedFileError
from app.core.ports import ChunkStore, MetadataStore
from ingest.chunk import ChunkStage, DocumentScope
from ingest.embed import EmbedStage
from ingest.enrich import MetadataEnricher
from ingest.parse import ParseStage

log = logging.getLogger(__name__)

Progress = Callable[[Stage, dict[str, int]], None]


# Document facts copied onto every chunk's filterable metadata.
CHUNK_FACTS = ("language", "keywords", "author", "created_at", "modified_at", "source_uri")


def document_id_for(tenant: str, collection: str, external_id: str) -> str:
    """A document's id: stable for the same name in the same collection, so a changed file replaces itself."""
    return stable_id("doc", tenant, collection, external_id)


@dataclass(frozen=True)
class SourceFile:
    path: str
    filename: str
    tenant: str
    collection: str
    template: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    acl_groups: tuple[str, ...] = ()
    embedder: str | None = None  # the collection's dense embedder
    template_params: dict[str, Any] = field(default_factory=dict)
    source_uri: str | None = None  # a fetched URL


@dataclass(frozen=True)
class FileReport:
    filename: str
    status: str  # succeeded | failed
    document_ids: tuple[str, ...] = ()
    documents: int = 0
    unchanged: int = 0
    chunks: int = 0
    reason: str | None = None
    code: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


class IngestPipeline:
    """Runs one source file through every ingest stage. Idempotent: unchanged documents cost nothing.

    Usage::

        report = pipeline.run(SourceFile("/tmp/a.pdf", "a.pdf", "default", "handbook"))
    """

    def __init__(
        self,
        parse: ParseStage,
        chunk: ChunkStage,
        embed: EmbedStage,
        store: ChunkStore,
        metadata: MetadataStore,
        batch_chunks: int = 256,
        release_original: Callable[[str], None] | None = None,
        enricher: MetadataEnricher | None = None,
    ) -> None:
        """Args: `release_original(path)` is called for a stored original that no document may refer to any more
        (replaced by a newer upload, or an upload that changed nothing); it removes the file if none does."""
        if batch_chunks < 1:
            raise ValueError("batch_chunks must be >= 1")
        self.parse, self.chunk, self.embed = parse, chunk, embed
        self.store, self.metadata = store, metadata
        self.batch_chunks = batch_chunks
        self.release_original = release_original or (lambda path: None)
        self.enricher = enricher

    def run(self, src: SourceFile, progress: Progress | None = None) -> FileReport:
        notify = progress or (lambda stage, counts: None)
        timings: dict[str, float] = {"parsing": 0.0, "chunking": 0.0, "embedding": 0.0, "indexing": 0.0}
        notify(Stage.PARSING, {})
        t0 = time.perf_counter()
        try:
            with self.parse.plaintext(src.path) as plain:  # originals may be encrypted at rest
                parsed = self.parse.run(plain, src.filename).documents
                single = len(parsed) == 1 and parsed[0].external_id == src.filename
                file_hash = _file_hash(plain) if single else None
        except RejectedFileError as e:
            self.release_original(src.path)
            return FileReport(src.filename, "failed", reason=e.reason, code=e.code)
        timings["parsing"] = _ms(t0)
        report = _Tally(total=len(parsed))
        replaced: set[str] = set()
        batch: list[tuple[ParsedDocument, DocumentScope, list[Chunk]]] = []
        pending = 0
        for doc in parsed:
            doc_id = document_id_for(src.tenant, src.collection, doc.external_id)
            report.ids.append(doc_id)
            doc_hash = file_hash or content_hash(f"{doc.title}\x1f{doc.text}")
            # Template and user metadata are part of the version: changing either re-indexes.
            doc_hash = content_hash(
                f"{doc_hash}|{src.template}|{sorted(src.template_params.items())}|{sorted(src.metadata.items())}|"
                f"{src.acl_groups}|{src.embedder or ''}"
            )
            existing = self.metadata.find_document(src.tenant, doc_id)
            if existing and existing.source_path and existing.source_path != src.path:
                replaced.add(existing.source_path)
            if existing and existing.content_hash == doc_hash and existing.status == "indexed":
                report.unchanged += 1
                report.done += 1
                continue
            doc = self._enrich(doc, src)
            # Enriched facts a filter wants (language, keywords, author...) travel with every chunk as `meta.*`;
            # user metadata given at upload wins on a name clash.
            chunk_meta = {**{k: doc.metadata[k] for k in CHUNK_FACTS if k in doc.metadata}, **src.metadata}
            scope = DocumentScope(src.tenant, src.collection, doc_id, doc_hash, src.acl_groups, chunk_meta)
            notify(Stage.CHUNKING, report.counts())
            t = time.perf_counter()
            chosen, why = self.chunk.choose(doc, src.template)
            chunks = self.chunk.run(doc, scope, chosen, src.template_params)
            timings["chunking"] += _ms(t)
            if why is not None:  # `auto` records what it picked and why on the document
                doc = replace(doc, metadata={**doc.metadata, "template_choice": {"template": chosen, "reason": why}})
            batch.append((doc, scope, chunks))
            pending += len(chunks)
            if pending >= self.batch_chunks:
                self._flush(batch, src, timings, report, notify)
                batch, pending = [], 0
        if batch:
            self._flush(batch, src, timings, report, notify)
        self.store.flush()
        for path in (*replaced, src.path):  # originals no document refers to any more
            self.release_original(path)
        notify(Stage.DONE, report.counts())
        return FileReport(
            src.filename,
            "succeeded",
            document_ids=tuple(report.ids),
            documents=report.total,
            unchanged=report.unchanged,
            chunks=report.chunks,
            timings_ms={k: round(v, 1) for k, v in timings.items()},
        )

    def _enrich(self, doc: ParsedDocument, src: SourceFile) -> ParsedDocument:
        if self.enricher is None:
            return doc
        source = {"filename": src.filename, "size_bytes": len(doc.text.encode("utf-8")), "source_uri": src.source_uri}
        facts = self.enricher.enrich(doc, {k: v for k, v in source.items() if v is not None})
        return replace(doc, metadata={**doc.metadata, **facts})

    def _flush(
        self,
        batch: list[tuple[ParsedDocument, DocumentScope, list[Chunk]]],
        src: SourceFile,
        timings: dict[str, float],
        report: _Tally,
        notify: Progress,
    ) -> None:
        all_chunks = [c for _, _, chunks in batch for c in chunks]
        notify(Stage.EMBEDDING, report.counts())
        t = time.perf_counter()
        encoded = self.embed.run(all_chunks, src.embedder)
        timings["embedding"] += _ms(t)
        notify(Stage.INDEXING, report.counts())
        t = time.perf_counter()
        # New version first, then drop the old one: a reader sees old or new chunks, never neither.
        self.store.upsert(encoded)
        now = datetime.now(UTC).isoformat()
        self.store.delete_stale(src.tenant, {scope.document_id: scope.doc_hash for _, scope, _ in batch})
        for doc, scope, chunks in batch:
            self.metadata.upsert_document(
                Document(
                    id=scope.document_id,
                    tenant=src.tenant,
                    collection=src.collection,
                    external_id=doc.external_id,
                    filename=src.filename,
                    source_path=src.path,
                    file_type=doc.file_type,
                    content_hash=scope.doc_hash,
                    status="indexed",
                    title=doc.title,
                    size_bytes=len(doc.text.encode("utf-8")),
                    chunk_count=len(chunks),
                    template=chunks[0].template if chunks else self.chunk.choose(doc, src.template)[0],
                    metadata={**json_safe(doc.metadata), **src.metadata},
                    acl_groups=src.acl_groups,
                    created_at=now,
                    updated_at=now,
                )
            )
            report.done += 1
            report.chunks += len(chunks)
        timings["indexing"] += _ms(t)


@dataclass
class _Tally:
    total: int
    done: int = 0
    unchanged: int = 0
    chunks: int = 0
    ids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"documents_total": self.total, "documents_done": self.done, "chunks": self.chunks}


def _ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000


def _file_hash(path: str) -> str:
    with open(path, "rb") as f:
        return content_hash(f.read())
