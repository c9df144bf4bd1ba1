"""One Settings class. Environment variables use the GROUNDED_ prefix; nested groups use `__`
(e.g. GROUNDED_INGEST__CHUNK_SIZE=800)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseModel):
    chunk_size: int = Field(800, ge=100, le=8000, description="target chunk size in characters")
    chunk_overlap: int = Field(120, ge=0, le=2000, description="overlap between chunks in characters")
    max_file_bytes: int = Field(50 * 1024 * 1024, ge=1, description="uploads above this size are rejected (413)")
    max_files_per_upload: int = Field(1000, ge=1)
    embed_batch_size: int = Field(16, ge=1, le=1024)
    default_template: str = "general"
    parse_timeout_s: float = Field(
        300.0, gt=0, description="wall-clock limit of parsing one file (a 1,225-page book takes ~75 s on 2 idle cores)"
    )
    parse_memory_mb: int = Field(2048, ge=256, description="memory limit of the parser process per file")
    isolate_parser: bool = Field(True, description="parse in a child process (timeout, memory limit, crash-safe)")
    keywords: int = Field(8, ge=0, le=50, description="keywords extracted per document (0 = none)")
    llm_enrichment: bool = Field(False, description="summary + likely questions per document (needs a generator)")


class RetrievalSettings(BaseModel):
    top_k: int = Field(5, ge=1, le=100)
    max_top_k: int = Field(100, ge=1, le=1000)
    prefetch_multiplier: int = Field(4, ge=1, le=50, description="each leg fetches top_k × this (min 50)")
    rrf_k: int = Field(60, ge=1)
    relevance_floor: float = Field(0.25, ge=-1, le=1, description="chunks whose dense cosine is below are dropped")
    bm25_avg_len: float = Field(120.0, gt=0, description="average chunk length in tokens, for BM25 length norm")
    candidates: int = Field(50, ge=1, le=1000, description="first-pass depth that is reranked and post-filtered")
    reranker: str = Field("none", description="none | feature (learned on SciFact; opt-in, see README)")
    optimize_after: int = Field(
        20_000, ge=0, description="embedded index: points written before HNSW optimisation runs (0 = never)"
    )


class AnswerSettings(BaseModel):
    generator: str = Field("extractive", description="extractive (default) | llama-cpp | openai")
    evidence_floor: float = Field(0.40, ge=-1, le=1, description="refuse when the best dense cosine is below this")
    evidence_gate: bool = Field(True, description="calibrated evidence gate before generation (refuse early)")
    max_sentences: int = Field(3, ge=1, le=20)
    sentence_floor: float = Field(0.30, ge=-1, le=1)
    passages: int = Field(5, ge=1, le=50)
    verifier: str = Field("fast", description="fast (trained feature model) | llm (LLM judge) | none")
    unsupported: str = Field("remove", description="remove | flag: what repair does with an unsupported sentence")
    min_support: float = Field(0.5, ge=0, le=1, description="answers whose supported share is below become refusals")
    label: bool = Field(False, description="also append the label as a visible line to generated answers")
    label_text: str = "AI-generated answer based on your documents; check the cited passages."
    provenance_key: SecretStr | None = Field(
        None, description="HMAC key signing provenance records; default: derived from admin_key / a per-install key"
    )
    faq: bool = Field(True, description="match the standard Q&A library before retrieval")
    faq_threshold: float = Field(0.82, ge=0, le=1, description="FAQ match score needed to return the approved answer")
    guidelines: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="sensitive domain → {instructions, disclaimer}; overrides the built-in medical/legal/financial/"
        "self_harm guideline texts",
    )


class UrlSettings(BaseModel):
    max_bytes: int = Field(50 * 1024 * 1024, ge=1, description="a fetched URL larger than this is refused")
    timeout_s: float = Field(20.0, gt=0, description="wall-clock limit of one fetch, redirects included")
    max_redirects: int = Field(5, ge=0, le=20)
    max_per_request: int = Field(20, ge=1, le=200, description="URLs per POST /v1/collections/{c}/urls")
    allow_private: bool = Field(
        False, description="allow private/loopback addresses (on-prem intranets only; metadata IPs stay blocked)"
    )
    allow_hosts: list[str] = Field(default_factory=list, description="hosts (host[:port]) allowed even if private")


class GuardSettings(BaseModel):
    enabled: bool = Field(True, description="input guard before answers, output guard after them")
    scan_documents: bool = Field(True, description="injection detector on every chunk at ingest (quarantine)")
    policy: dict[str, Any] = Field(
        default_factory=dict, description='default policy: {"blocked": [...], "sensitive": [...], "action_for": {}}'
    )
    tenant_policies: dict[str, dict[str, Any]] = Field(default_factory=dict, description="tenant → policy")
    pii_kinds: list[str] = Field(
        default_factory=lambda: ["credit_card", "iban", "ssn", "cn_id"],
        description="PII redacted from answers: email, phone, credit_card, iban, ssn, cn_id",
    )
    tenant_pii: dict[str, list[str]] = Field(default_factory=dict, description="tenant → PII kinds")
    allowed_link_hosts: list[str] = Field(default_factory=list, description="links/images to these hosts are kept")
    check_output: bool = Field(True, description="withhold an answer the guard flags as risky")


class ModelSettings(BaseModel):
    embedder: str = Field("minilm", description="minilm (packaged all-MiniLM-L6-v2) or hash (tests only)")
    torch_threads: int = Field(0, ge=0, description="0 = number of cores")
    llm: str = Field("none", description="chat model for LLM generation/judging: none | llama-cpp | openai")
    llm_model: str = Field(
        "qwen2.5-coder-1.5b",
        description="llama-cpp: qwen2.5-coder-1.5b | smollm2-135m | a path to a .gguf file",
    )
    llm_threads: int = Field(0, ge=0, description="llama.cpp threads (0 = number of cores)")
    llm_context: int = Field(4096, ge=512, le=131072, description="llama.cpp context window in tokens")
    llm_max_tokens: int = Field(384, ge=16, le=8192, description="tokens generated per answer at most")
    llm_timeout_s: float = Field(120.0, gt=0, description="limit of one model call")
    llm_prompt_cache_mb: int = Field(0, ge=0, description="llama.cpp RAM cache of prompt states (0 = off)")
    model_cache_dir: Path | None = Field(None, description="assembled GGUF files; default <data_dir>/models")
    openai_base_url: str = Field("http://127.0.0.1:8080/v1", description="OpenAI-compatible endpoint")
    openai_api_key: SecretStr | None = None
    openai_model: str = Field("", description="model name sent to the endpoint")
    openai_max_retries: int = Field(2, ge=0, le=10)


class EvalSettings(BaseModel):
    """Evaluation runs (`grounded eval qa`, /v1/eval/*) and continuous scoring of live answers."""

    judge: str = Field("none", description="default judge of suite runs: none | local | openai")
    judge_model: str = Field("qwen2.5-coder-1.5b", description="local judge GGUF (see models.llm_model)")
    judge_threads: int = Field(0, ge=0, description="llama.cpp threads of the local judge (0 = number of cores)")
    judge_timeout_s: float = Field(180.0, gt=0, description="limit of one judge call; a timeout is a counted failure")
    judge_prompt_cache_mb: int = Field(
        2048, ge=0, description="llama.cpp RAM cache of judge prompt states: resumes the shared prompt prefix"
    )
    judge_cache: bool = Field(True, description="cache judge calls by content hash in <data_dir>/judge-cache.sqlite")
    max_suite_rows: int = Field(10000, ge=1, description="rows a suite may have")
    live_share: float = Field(0.0, ge=0.0, le=1.0, description="share of live answers scored (0 = off)")
    live_judge: str = Field("fast", description="judge of live answers: fast (our verifier) | local | openai")
    live_interval_s: float = Field(30.0, gt=0, description="how often the in-process scheduler scores pending samples")
    live_batch: int = Field(20, ge=1, description="samples scored per scheduler tick")
    live_window: int = Field(50, ge=1, description="rolling window (samples) of the live faithfulness")
    live_min_samples: int = Field(10, ge=1, description="samples in the window before an alert can be raised")
    live_threshold: float = Field(0.7, ge=0.0, le=1.0, description="alert when rolling faithfulness falls below")
    alert_webhook_url: str | None = Field(None, description="POSTed once per incident (JSON) when set")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GROUNDED_", env_nested_delimiter="__", extra="ignore")

    env: str = Field("development", description="development | production")
    data_dir: Path = Field(Path("./data"), description="root for the vector index, the SQLite DB and originals")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<data_dir>/grounded.db")
    qdrant_url: str | None = Field(None, description="Qdrant server URL; unset = embedded qdrant-edge")
    qdrant_api_key: SecretStr | None = None
    qdrant_collection: str = "grounded_chunks"
    default_tenant: str = "default"
    host: str = "127.0.0.1"
    port: int = 8000
    job_workers: int = Field(1, ge=1, le=16, description="in-process ingestion worker threads")
    originals_path: Path | None = Field(
        None, description="where uploaded originals are kept; default <data_dir>/originals"
    )
    broker_url: str | None = Field(None, description="Celery broker (redis://...); unset = in-process runner")
    broker_visibility_timeout_s: int = Field(
        3600, ge=10, description="an unacknowledged task is redelivered after this; must exceed task_time_limit_s"
    )
    task_time_limit_s: int = Field(1800, ge=5, description="hard limit of one ingest task (one file)")
    task_max_retries: int = Field(5, ge=0, le=50, description="retries of a task that failed for a transient reason")
    stalled_job_after_s: int = Field(
        0, ge=0, description="beat re-queues unfinished files of jobs idle this long (0 = visibility timeout + 5 min)"
    )

    admin_key: SecretStr | None = Field(
        None, description="bootstrap admin API key; required outside development (the service refuses to start)"
    )
    admin_tenant: str = Field("default", description="tenant of the bootstrap admin key")
    admin_groups: list[str] = Field(default_factory=list, description="ACL groups of the bootstrap admin key")
    originals_keys: SecretStr | None = Field(
        None, description="comma-separated urlsafe-base64 32-byte keys; first encrypts stored originals, all decrypt"
    )
    audit_key: SecretStr | None = Field(None, description="HMAC key of the audit log's hash chain")
    max_request_bytes: int = Field(1024 * 1024, ge=1024, description="request body limit (JSON); 413 above")
    max_upload_request_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="body limit of a multipart upload (each file: ingest.max_file_bytes)"
    )
    rate_limit_per_s: float = Field(20.0, ge=0, description="requests per second per key (token bucket; 0 = off)")
    rate_limit_burst: int = Field(40, ge=1, description="bucket size: requests a key may make at once")

    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answer: AnswerSettings = AnswerSettings()
    models: ModelSettings = ModelSettings()
    urls: UrlSettings = UrlSettings()
    guards: GuardSettings = GuardSettings()
    eval: EvalSettings = EvalSettings()

    @field_validator("env")
    @classmethod
    def _env(cls, v: str) -> str:
        if v not in {"development", "production", "test"}:
            raise ValueError("env must be one of: development, production, test")
        return v

    @model_validator(mode="after")
    def _timeouts(self) -> Settings:
        if self.broker_visibility_timeout_s <= self.task_time_limit_s:
            raise ValueError(
                "broker_visibility_timeout_s must exceed task_time_limit_s, or a running task is delivered twice"
            )
        return self

    @property
    def stalled_after_s(self) -> int:
        return self.stalled_job_after_s or self.broker_visibility_timeout_s + 300

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Plain postgresql:// means psycopg 3 here (the driver we install), not psycopg2.
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'grounded.db').resolve()}"

    @property
    def originals_dir(self) -> Path:
        return self.originals_path or self.data_dir / "originals"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "qdrant"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
