"""Ports: the Protocols every adapter implements. The rest of the project depends on these, never on a library."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from app.core.domain import (
    Chunk,
    Document,
    EncodedChunk,
    ParsedDocument,
    ScoredChunk,
    SparseVector,
)
from app.core.filters import Filter
from app.core.grounding import ChatMessage, Generation, Guidelines, Passage, Support


@runtime_checkable
class Embedder(Protocol):
    """Dense text embedder. `embed_batch` is the primitive; vectors are L2-normalised.

    `vector_name` is the named vector it fills in the store: collections embedded by different models live in the
    same store under different vector names.
    """

    name: str
    dim: int
    vector_name: str

    def warm_up(self) -> None: ...

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


@runtime_checkable
class SparseEncoder(Protocol):
    """BM25-style sparse encoder; the store applies IDF, so vectors carry term-frequency weights only."""

    name: str

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def encode_query(self, text: str) -> SparseVector: ...


@runtime_checkable
class Parser(Protocol):
    """Turns a file into parsed documents (one per file, or one per line of a `.jsonl` corpus)."""

    def parse(self, path: str, filename: str) -> list[ParsedDocument]: ...


@runtime_checkable
class ChunkStore(Protocol):
    """Vector store for chunks: dense + sparse vectors and a typed payload, filtered inside the search."""

    def ensure_ready(self) -> None: ...

    def upsert(self, items: Sequence[EncodedChunk]) -> None: ...

    def delete_document(self, tenant: str, document_id: str, keep_doc_hash: str | None = None) -> None:
        """Remove a document's chunks; with `keep_doc_hash`, remove only chunks of other versions."""
        ...

    def delete_stale(self, tenant: str, versions: dict[str, str]) -> None:
        """For each document id → current doc_hash, remove that document's chunks of any other version."""
        ...

    def delete_collection(self, tenant: str, collection: str) -> None: ...

    def hybrid_search(
        self,
        dense: Sequence[float],
        sparse: SparseVector,
        flt: Filter,
        limit: int,
        prefetch_limit: int,
        rrf_k: int = 60,
        weights: tuple[float, float] | None = None,
        fusion: str = "rrf",
        using: str = "dense",
    ) -> list[ScoredChunk]:
        """Dense and sparse legs as prefetches, fused inside the engine: RRF (optionally weighted per leg:
        (dense, sparse)) or DBSF. Both legs and the fusion run under the same filter. `using` names the dense
        vector (see Embedder.vector_name)."""
        ...

    def dense_search(
        self, dense: Sequence[float], flt: Filter, limit: int, using: str = "dense"
    ) -> list[ScoredChunk]: ...

    def sparse_search(self, sparse: SparseVector, flt: Filter, limit: int) -> list[ScoredChunk]: ...

    def list_chunks(self, flt: Filter, limit: int = 1000, offset: int = 0) -> list[Chunk]: ...

    def count(self, flt: Filter) -> int: ...

    def flush(self) -> None:
        """Make writes durable (the embedded engine batches its flushes)."""
        ...

    def optimize(self, background: bool = False) -> bool:
        """Build search structures (HNSW) for recent writes; a server store does this by itself."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class InjectionDetector(Protocol):
    """Flags text that carries instructions aimed at the model. Runs on every chunk at ingest (the flag is stored
    with the chunk) and can run again at retrieval. Returns the reason, or None for clean text."""

    def detect(self, text: str) -> str | None: ...


@runtime_checkable
class Reranker(Protocol):
    """Second-stage ranking of first-pass candidates. Returns the same chunks, re-scored (`score`) and re-ordered.

    Implementations: a learned feature model (default), later a cross-encoder or an LLM judge.
    """

    name: str

    def warm_up(self) -> None: ...

    def rerank(self, query: str, candidates: Sequence[ScoredChunk]) -> list[ScoredChunk]: ...


@runtime_checkable
class Generator(Protocol):
    """Writes an answer from numbered passages, citing them as [n]. LLM backends implement the same port."""

    name: str

    def warm_up(self) -> None: ...

    def generate(
        self, question: str, passages: Sequence[Passage], guidelines: Guidelines | None = None
    ) -> Generation: ...

    def stream(self, question: str, passages: Sequence[Passage], guidelines: Guidelines | None = None) -> Iterator[str]:
        """The answer text in pieces as it is produced (tokens for an LLM, the whole text for extractive). An
        answer that abstains yields the `ABSTAIN` sentinel."""
        ...


@runtime_checkable
class LanguageModel(Protocol):
    """A chat model: a local GGUF through llama.cpp or an OpenAI-compatible endpoint. Generators and the LLM judge
    are built on it; `json_schema` constrains the output to valid JSON of that schema."""

    name: str  # e.g. "llama-cpp:qwen2.5-coder-1.5b-instruct" or "openai:gpt-4o-mini"

    def warm_up(self) -> None: ...

    def chat(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> str: ...

    def stream_chat(
        self, messages: Sequence[ChatMessage], max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str]: ...


@runtime_checkable
class Verifier(Protocol):
    """Checks whether evidence supports a claim. `support` scores each (claim, evidence) pair in one call (batched);
    the answer service decides the order (cited passage first, then the other passages)."""

    name: str

    def warm_up(self) -> None: ...

    def support(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[Support]: ...


@runtime_checkable
class MetadataStore(Protocol):
    """Collections, documents and jobs (SQL). Implemented once with SQLAlchemy for SQLite and PostgreSQL."""

    def create_collection(
        self,
        tenant: str,
        name: str,
        template: str,
        description: str = "",
        embedder: str = "default",
        metadata_schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    def update_collection(self, tenant: str, name: str, **fields: Any) -> dict[str, Any]: ...

    def get_collection(self, tenant: str, name: str) -> dict[str, Any]: ...

    def list_collections(self, tenant: str) -> list[dict[str, Any]]: ...

    def delete_collection(self, tenant: str, name: str) -> None: ...

    def upsert_document(self, doc: Document) -> Document: ...

    def get_document(self, tenant: str, document_id: str) -> Document: ...

    def find_document(self, tenant: str, document_id: str) -> Document | None: ...

    def list_documents(self, tenant: str, collection: str, limit: int = 100, offset: int = 0) -> list[Document]: ...

    def count_documents_by_source(self, source_path: str) -> int: ...

    def delete_document(self, tenant: str, document_id: str) -> None: ...

    def create_job(self, job: dict[str, Any]) -> dict[str, Any]: ...

    def update_job(self, job_id: str, **fields: Any) -> dict[str, Any]: ...

    def modify_job(self, job_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]: ...

    def get_job(self, tenant: str, job_id: str) -> dict[str, Any]: ...

    def list_jobs(self, statuses: Sequence[str]) -> list[dict[str, Any]]: ...


@runtime_checkable
class JobRunner(Protocol):
    """Executes ingest jobs: threads in this process, or Celery workers elsewhere."""

    def start(self) -> int: ...

    def submit(self, job_id: str, tenant: str) -> None: ...

    def wait_idle(self, timeout: float | None = None) -> bool: ...

    def stop(self) -> None: ...
