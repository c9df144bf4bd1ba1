"""Chunk stage: a parsed document → chunks with deterministic ids, spans, pages, sections and metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.domain import Chunk, ParsedDocument, content_hash, json_safe, stable_id
from app.core.errors import InvalidInputError
from app.core.filters import to_timestamp
from app.core.ports import InjectionDetector
from ingest.templates import choose_template, get_template


@dataclass(frozen=True)
class DocumentScope:
    """Who owns a document and how it is identified; fixed before chunking."""

    tenant: str
    collection: str
    document_id: str
    doc_hash: str
    acl_groups: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None


class ChunkStage:
    """Splits a document with its template and stamps every chunk with what a citation and a filter need.

    Usage::

        chunks = ChunkStage(chunk_size=800, overlap=120).run(parsed, scope, template="general")
    """

    def __init__(
        self,
        chunk_size: int = 800,
        overlap: int = 120,
        default_template: str = "general",
        detector: InjectionDetector | None = None,
    ) -> None:
        get_template(default_template, chunk_size=chunk_size, overlap=overlap)  # validates all three now
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.default_template = default_template
        # The hook for indirect prompt injection: flagged chunks are stored with the reason and quarantined
        # from generation at retrieval time.
        self.detector = detector

    def template_for(self, name: str, params: dict[str, Any] | None = None) -> Any:
        """Build a template with this stage's size/overlap and the given parameters; bad ones are input errors."""
        params = dict(params or {})
        params.setdefault("chunk_size", self.chunk_size)
        params.setdefault("overlap", self.overlap)
        try:
            return get_template(name, **params)
        except (TypeError, ValueError) as e:
            raise InvalidInputError(f"template {name!r}: {e}", "template_params") from e

    def choose(self, doc: ParsedDocument, template: str | None = None) -> tuple[str, str | None]:
        """The template this document is split with, and why when `auto` chose it (None when asked for by name)."""
        name = template or self.default_template
        if name != "auto":
            return name, None
        return choose_template(doc)

    def run(
        self,
        doc: ParsedDocument,
        scope: DocumentScope,
        template: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Chunk]:
        """Args: `params` are the template's own parameters (validated by `template_for` at upload)."""
        name, _ = self.choose(doc, template)
        drafts = self.template_for(name, params).split(doc)
        meta = {**doc.metadata, **(scope.metadata or {})}
        created = _timestamp(meta.get("created_at") or meta.get("modified_at"))
        chunks = []
        for pos, d in enumerate(drafts):
            h = content_hash(d.text)
            # A variant (e.g. a Q&A pair's question-only entry) is a second index entry for the same text.
            variant = (str(d.fields["variant"]),) if d.fields.get("variant") else ()
            chunks.append(
                Chunk(
                    id=stable_id(scope.tenant, scope.document_id, scope.doc_hash, str(pos), h, *variant),
                    document_id=scope.document_id,
                    tenant=scope.tenant,
                    collection=scope.collection,
                    external_id=doc.external_id,
                    text=d.text,
                    position=pos,
                    start=d.start,
                    end=d.end,
                    content_hash=h,
                    doc_hash=scope.doc_hash,
                    template=name,
                    title=doc.title,
                    page=d.page,
                    section_path=d.section_path,
                    file_type=doc.file_type,
                    created_at=created,
                    acl_groups=scope.acl_groups,
                    metadata=json_safe(scope.metadata or {}),
                    quarantine=self.detector.detect(d.text) if self.detector else None,
                    indexed_text=d.index_text,
                    fields=json_safe(d.fields),
                )
            )
        return chunks


def _timestamp(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return to_timestamp(str(value))
    except ValueError:
        return None
