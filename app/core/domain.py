"""Domain types shared by every stage. Frozen dataclasses; nothing here imports the rest of the project."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_TENANT = "default"


def content_hash(data: bytes | str) -> str:
    """Stable SHA-256 hex digest of bytes or text."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def json_safe(meta: dict[str, Any]) -> dict[str, Any]:
    """Metadata values as JSON payload values: scalars, lists and dicts kept, anything else as its string."""
    return {
        k: v if isinstance(v, str | int | float | bool | list | dict) or v is None else str(v) for k, v in meta.items()
    }


def stable_id(*parts: str) -> str:
    """Deterministic UUID (as string) from the given parts; the same parts always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"


class Stage(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    CHUNKING = "chunking"
    EMBEDDING = "embedding"
    INDEXING = "indexing"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Element:
    """One parsed unit of a document (title, paragraph, table, list item...)."""

    text: str
    kind: str = "text"
    page: int | None = None
    section_path: tuple[str, ...] = ()
    start: int = 0  # character offset in the document's full text
    end: int = 0


@dataclass(frozen=True)
class ParsedDocument:
    """A source document after parsing: its elements plus what the parser learned about it."""

    external_id: str
    title: str
    elements: tuple[Element, ...]
    file_type: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(e.text for e in self.elements)


@dataclass(frozen=True)
class Document:
    """A document record as stored in the metadata store."""

    id: str
    tenant: str
    collection: str
    external_id: str
    filename: str
    file_type: str
    content_hash: str
    status: str
    title: str = ""
    size_bytes: int = 0
    chunk_count: int = 0
    template: str = "general"
    metadata: dict[str, Any] = field(default_factory=dict)
    acl_groups: tuple[str, ...] = ()
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""
    source_path: str = ""  # where the stored original is (re-index and delete use it)


@dataclass(frozen=True)
class Chunk:
    """A retrievable unit of text with everything a citation needs to point at the exact source."""

    id: str
    document_id: str
    tenant: str
    collection: str
    external_id: str
    text: str
    position: int
    start: int
    end: int
    content_hash: str
    doc_hash: str
    template: str = "general"
    title: str = ""
    page: int | None = None
    section_path: tuple[str, ...] = ()
    file_type: str = ""
    created_at: float | None = None
    acl_groups: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    # Set at ingest by an injection detector: why this chunk looks like instructions aimed at the model.
    quarantine: str | None = None
    # Set by a template: what to index instead of title + text, and template facts (article number, Q&A variant).
    indexed_text: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def index_text(self) -> str:
        """The text that is embedded and BM25-indexed: the template's choice, else the title gives short chunks
        their context."""
        if self.indexed_text:
            return self.indexed_text
        return f"{self.title}\n{self.text}" if self.title and self.title not in self.text[:200] else self.text


@dataclass(frozen=True)
class SparseVector:
    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class EncodedChunk:
    chunk: Chunk
    dense: tuple[float, ...]
    sparse: SparseVector
    dense_name: str = "dense"  # the store's named vector this embedding belongs to


@dataclass(frozen=True)
class Query:
    """A retrieval request after parsing: the text plus who asks and where to look."""

    text: str
    collection: str
    tenant: str = DEFAULT_TENANT
    top_k: int = 5
    acl_groups: tuple[str, ...] | None = None  # None = caller sees every group (no ACL restriction)
    filters: Any = None  # app.core.filters.Filter | None — hard: always applied
    soft_filters: Any = None  # app.core.filters.Filter | None — applied first, relaxed by recall recovery
    embedder: str | None = None  # the collection's dense embedder; None = the default one


class Intent(StrEnum):
    FACTUAL = "factual"
    HOWTO = "howto"
    COMPARISON = "comparison"
    SUMMARY = "summary"
    CHITCHAT = "chitchat"
    OUT_OF_SCOPE = "out_of_scope"
    SENSITIVE_MEDICAL = "sensitive_medical"
    SENSITIVE_LEGAL = "sensitive_legal"
    SENSITIVE_FINANCIAL = "sensitive_financial"
    FAQ = "faq"


@dataclass(frozen=True)
class IntentResult:
    intent: Intent
    confidence: float
    reason: str
    scores: dict[str, float] = field(default_factory=dict)


class Fusion(StrEnum):
    RRF = "rrf"
    DBSF = "dbsf"


@dataclass(frozen=True)
class RetrievalPlan:
    """How to retrieve for one query; chosen from its intent. Every field has a meaning in some stage."""

    intent: Intent = Intent.FACTUAL
    retrieve: bool = True  # False: answer without retrieval (chit-chat) or refuse (out of scope)
    top_k: int = 5
    candidates: int = 50  # first-pass depth per leg and reranking depth
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    fusion: Fusion = Fusion.RRF
    rerank: bool = True
    expand_neighbours: bool = False
    per_document_cap: int = 3
    min_documents: int = 1  # fewer distinct documents than this counts as too little evidence
    mmr_lambda: float | None = None  # diversity: None = off, 1.0 = pure relevance
    token_budget: int | None = None  # approximate tokens of chunk text kept
    prefer_templates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """Why a chunk was kept or dropped, and by which stage (for `explain=true`)."""

    chunk_id: str
    kept: bool
    stage: str
    reason: str


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    score: float  # fused (RRF) score: a rank signal, not comparable across queries
    dense_score: float | None = None  # cosine similarity of the query and the chunk
    sparse_score: float | None = None  # BM25 score when known
    rank: int = 0


@dataclass(frozen=True)
class Retrieval:
    """What retrieval returns: ranked chunks plus the signals later stages decide on."""

    query: Query
    chunks: tuple[ScoredChunk, ...]
    dropped_below_floor: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    intent: IntentResult | None = None
    plan: RetrievalPlan | None = None
    recovery_path: tuple[str, ...] = ("first_pass",)
    decisions: tuple[Decision, ...] = ()

    @property
    def top_dense(self) -> float:
        scores = [c.dense_score for c in self.chunks if c.dense_score is not None]
        return max(scores) if scores else 0.0
