"""Composition root: the only place that reads Settings and picks adapters. API, CLI and workers call it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.adapters.audit import AuditLog
from app.adapters.crypto import FileCipher
from app.adapters.key_store import SqlKeyStore
from app.adapters.url_fetcher import UrlFetcher
from app.answer.factory import build_answer_service
from app.answer.guarding import AnswerGuards
from app.answer.service import AnswerService
from app.container_eval import LiveScoring, build_eval
from app.core.errors import InvalidInputError
from app.core.ports import ChunkStore, Embedder, JobRunner, MetadataStore, Parser, Reranker
from app.core.ratelimit import RateLimiter
from app.core.runtime import pin_threads
from app.core.settings import Settings
from app.faq import FaqService, SqlFaqStore
from app.guards import Guard, GuardInjectionDetector
from app.knowledge import KnowledgeBase
from eval.service import EvalService
from ingest.chunk import ChunkStage
from ingest.embed import EmbedStage
from ingest.enrich import MetadataEnricher
from ingest.jobs import InProcessJobRunner
from ingest.parse import ParseStage
from ingest.pipeline import IngestPipeline
from retrievers.hybrid import HybridRetriever
from retrievers.postfilter import PostFilter
from retrievers.recovery import RecallRecovery
from retrievers.router import IntentRouter
from retrievers.service import RetrievalService

log = logging.getLogger(__name__)


def configure_threads(settings: Settings) -> None:
    """Thread pools and offline switches for this process (see `app.core.runtime.pin_threads`)."""
    pin_threads()


@dataclass
class Services:
    settings: Settings
    metadata: MetadataStore
    store: ChunkStore
    embedder: Embedder
    pipeline: IngestPipeline
    runner: JobRunner
    retriever: HybridRetriever
    retrieval: RetrievalService
    answers: AnswerService
    kb: KnowledgeBase
    keys: SqlKeyStore
    limiter: RateLimiter
    audit: AuditLog
    cipher: FileCipher | None
    guard: Guard | None
    faq: FaqService | None = None  # the standard Q&A library; None when settings.answer.faq is off
    evals: EvalService | None = None  # evaluation suites and runs (/v1/eval, `grounded eval qa`)
    live: LiveScoring | None = None  # continuous scoring of a share of live answers

    def start_background(self) -> None:
        """Start what runs beside requests (API start-up only): job runner, live sampling and scoring."""
        if not self.runner._threads:
            resumed = self.runner.start()
            if resumed:
                log.info("resumed %d interrupted ingest job(s)", resumed)
        if self.evals is not None:
            failed = self.evals.store.fail_unfinished("the service stopped before the run finished")
            if failed:
                log.warning("marked %d interrupted evaluation run(s) failed", failed)
        if self.live is not None:
            self.live.start()

    def warm_up(self) -> None:
        """Load models and open stores; called at API start-up / CLI start, never at import."""
        self.embedder.warm_up()
        self.store.ensure_ready()
        self.retrieval.warm_up()
        self.answers.warm_up()
        if self.guard is not None:
            self.guard.warm_up()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
        if self.evals is not None:
            self.evals.close()
        self.runner.stop()
        close_parser = getattr(self.pipeline.parse.parser, "close", None)
        if close_parser:
            close_parser()
        self.store.close()
        self.audit.close()
        close = getattr(self.metadata, "close", None)
        if close:
            close()


def build_embedder(settings: Settings) -> Embedder:
    from app.adapters.embedders import HashEmbedder, MiniLMEmbedder

    if settings.models.embedder == "minilm":
        return MiniLMEmbedder(batch_size=settings.ingest.embed_batch_size, threads=settings.models.torch_threads)
    if settings.models.embedder == "hash":
        return HashEmbedder(dim=256)
    raise InvalidInputError(f"unknown embedder {settings.models.embedder!r}; valid: minilm, hash", "models.embedder")


def build_store(settings: Settings, dim: int, extra_vectors: dict[str, int] | None = None) -> ChunkStore:
    if settings.qdrant_url:
        from app.adapters.qdrant_store import QdrantServerChunkStore

        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantServerChunkStore.from_url(
            settings.qdrant_url, settings.qdrant_collection, dim, api_key=key, extra_vectors=extra_vectors
        )
    from app.adapters.edge_store import EdgeChunkStore

    return EdgeChunkStore(settings.index_dir, dim, extra_vectors, settings.retrieval.optimize_after)


def build_embedders(default: Embedder) -> dict[str, Embedder]:
    """Dense embedders a collection can choose (`embedder` at creation). Non-default ones load on first use."""
    from app.adapters.embedders import MultilingualUSEEmbedder

    return {"default": default, "multilingual": MultilingualUSEEmbedder()}


def build_services(settings: Settings, embedder: Embedder | None = None) -> Services:
    """Wire every stage from settings. `embedder` lets tests share one loaded model across many services."""
    configure_threads(settings)
    from app.adapters.isolated_parser import IsolatedParser
    from app.adapters.metadata_db import SqlMetadataStore
    from app.adapters.sparse import Bm25Encoder
    from app.adapters.unstructured_parser import UnstructuredParser, precheck

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metadata = SqlMetadataStore(settings.sqlalchemy_url)
    guard, answer_guards = build_guards(settings)
    detector = GuardInjectionDetector(guard) if guard is not None and settings.guards.scan_documents else None
    cipher = FileCipher.from_setting(settings.originals_keys.get_secret_value()) if settings.originals_keys else None
    embedder = embedder or build_embedder(settings)
    embedders = build_embedders(embedder)
    extra = {e.vector_name: e.dim for name, e in embedders.items() if name != "default"}
    store = build_store(settings, embedder.dim, extra)
    sparse = Bm25Encoder(avg_len=settings.retrieval.bm25_avg_len)
    ing = settings.ingest
    parser: Parser = UnstructuredParser()
    if ing.isolate_parser:  # a child process per parse: timeout, memory cap, a crash fails only that file
        parser = IsolatedParser(parser, ing.parse_timeout_s, ing.parse_memory_mb, workers=settings.job_workers)
    pipeline = IngestPipeline(
        ParseStage(parser, ing.max_file_bytes, cipher),
        ChunkStage(ing.chunk_size, ing.chunk_overlap, ing.default_template, detector),
        EmbedStage(embedders, sparse, ing.embed_batch_size),
        store,
        metadata,
        release_original=_releaser(metadata, settings.originals_dir),
        enricher=build_enricher(settings),
    )
    runner = build_runner(settings, pipeline, metadata)
    r = settings.retrieval
    retriever = HybridRetriever(
        embedders, sparse, store, r.prefetch_multiplier, rrf_k=r.rrf_k, relevance_floor=r.relevance_floor
    )
    retrieval = RetrievalService(
        IntentRouter(embedder, default_top_k=r.top_k, candidates=r.candidates),
        retriever,
        build_reranker(settings),
        PostFilter(store, relevance_floor=r.relevance_floor),
        RecallRecovery(evidence_floor=settings.answer.evidence_floor),
    )
    faq_on, faq_threshold = settings.answer.faq, settings.answer.faq_threshold
    faq = FaqService(SqlFaqStore(metadata), embedder, threshold=faq_threshold) if faq_on else None
    answers = build_answer_service(settings, retrieval, embedder, answer_guards)
    answers.faq = faq  # approved answers are matched before retrieval
    kb = KnowledgeBase(
        metadata,
        store,
        runner.submit,
        retrieval,
        answers,
        precheck,
        settings.originals_dir,
        ing.max_file_bytes,
        r.max_top_k,
        r.top_k,
        ing.max_files_per_upload,
        tuple(embedders),
        fetch_url=build_fetcher(settings).fetch,
        max_urls=settings.urls.max_per_request,
        cipher=cipher,
    )
    verifier = answers.verification.verifier if answers.verification is not None else None
    evals, live = build_eval(settings, metadata, kb, embedder, verifier, kb.get_collection)
    answers.observers.append(live.sampler.offer)
    keys = SqlKeyStore(metadata)
    limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    audit_key = settings.audit_key.get_secret_value().encode("utf-8") if settings.audit_key else None
    audit = AuditLog(settings.sqlalchemy_url, key=audit_key)
    return Services(
        settings,
        metadata,
        store,
        embedder,
        pipeline,
        runner,
        retriever,
        retrieval,
        answers,
        kb,
        keys,
        limiter,
        audit,
        cipher,
        guard,
        faq,
        evals,
        live,
    )


def _releaser(metadata: MetadataStore, originals_dir: Path) -> Callable[[str], None]:
    """Removes a stored original once no document refers to it; never touches a file outside `originals_dir`."""
    from app.adapters.originals import remove_original

    root = originals_dir.resolve()

    def release(path: str) -> None:
        if root in Path(path).resolve().parents and metadata.count_documents_by_source(path) == 0:
            remove_original(path)

    return release


def build_enricher(settings: Settings) -> MetadataEnricher:
    """Document metadata enrichment. LLM enrichment (summary, likely questions) needs a generative model."""
    from ingest.enrich import MetadataEnricher

    if settings.ingest.llm_enrichment:
        raise InvalidInputError(
            "ingest.llm_enrichment needs a generative model, and answer.generator 'extractive' is none; "
            "configure an LLM generator or turn llm_enrichment off",
            "ingest.llm_enrichment",
        )
    return MetadataEnricher(max_keywords=settings.ingest.keywords)


def build_fetcher(settings: Settings) -> UrlFetcher:
    """The SSRF-safe fetcher behind URL ingestion (private addresses refused unless allowed by settings)."""
    u = settings.urls
    if u.allow_private and settings.env == "production":
        log.warning("GROUNDED_URLS__ALLOW_PRIVATE is on: URL ingestion may fetch from private networks")
    return UrlFetcher(
        max_bytes=min(u.max_bytes, settings.ingest.max_file_bytes),
        timeout_s=u.timeout_s,
        max_redirects=u.max_redirects,
        allow_private=u.allow_private,
        allow_hosts=frozenset(u.allow_hosts),
    )


def build_guards(settings: Settings) -> tuple[Guard | None, AnswerGuards | None]:
    """The guard (rules + classifier) and its use around answers; invalid policies fail at start-up."""
    from app.answer.guarding import AnswerGuards
    from app.guards import Guard, GuardPolicy

    g = settings.guards
    if not g.enabled and not g.scan_documents:
        return None, None
    try:
        policy = GuardPolicy.from_mapping(g.policy)
        tenants = {t: GuardPolicy.from_mapping(p) for t, p in g.tenant_policies.items()}
    except ValueError as e:
        raise InvalidInputError(f"guards policy: {e}", "guards.policy") from e
    guard = Guard(policy=policy)
    if not g.enabled:
        return guard, None
    answer_guards = AnswerGuards(
        guard,
        policy,
        tenants,
        tuple(g.pii_kinds),
        {t: tuple(k) for t, k in g.tenant_pii.items()},
        tuple(g.allowed_link_hosts),
        g.check_output,
    )
    return guard, answer_guards


def build_runner(settings: Settings, pipeline: IngestPipeline, metadata: MetadataStore) -> JobRunner:
    """Celery workers when a broker is configured (the scaled profile), else background threads in this process."""
    if settings.broker_url:
        from ingest.celery_app import CeleryJobRunner, create_celery

        return CeleryJobRunner(metadata, create_celery(settings))
    return InProcessJobRunner(pipeline, metadata, workers=settings.job_workers)


def build_reranker(settings: Settings, name: str | None = None) -> Reranker | None:
    name = name or settings.retrieval.reranker
    if name == "none":
        return None
    if name == "feature":
        from retrievers.rerank import FeatureReranker

        return FeatureReranker()
    raise InvalidInputError(f"unknown reranker {name!r}; valid: feature, none", "reranker")
