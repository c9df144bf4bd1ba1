"""Building the answer side from settings: generator, verifier, evidence gate, guidelines, provenance signer.

Called by the composition root (`app.container`); the only place that maps `answer.*` / `models.llm*` settings to
classes. LLM backends and the fast verifier import lazily, so the default service starts without llama.cpp.
"""

from __future__ import annotations

from app.answer.gate import EvidenceGate
from app.answer.generator import ExtractiveGenerator
from app.answer.guarding import AnswerGuards
from app.answer.guidelines import GuidelineBook
from app.answer.provenance import ProvenanceSigner
from app.answer.service import AnswerService
from app.answer.verification import AnswerVerification
from app.core.errors import InvalidInputError
from app.core.ports import Embedder, Generator, LanguageModel, Verifier
from app.core.settings import Settings
from retrievers.service import RetrievalService

GENERATORS = ("extractive", "llama-cpp", "openai")
VERIFIERS = ("fast", "llm", "none")


def build_language_model(settings: Settings, kind: str | None = None) -> LanguageModel:
    """The chat model of kind `kind` (default `models.llm`): llama-cpp or openai."""
    from app.llm.factory import build_language_model as build

    kind = kind or settings.models.llm
    if kind == "none":
        raise InvalidInputError(
            "no language model configured: set GROUNDED_MODELS__LLM=llama-cpp (after `make install-llm`) or openai",
            "models.llm",
        )
    model = build(settings.model_copy(update={"models": settings.models.model_copy(update={"llm": kind})}))
    assert model is not None
    return model


def build_generator(settings: Settings, embedder: Embedder) -> Generator:
    a = settings.answer
    if a.generator == "extractive":
        return ExtractiveGenerator(embedder, max_sentences=a.max_sentences, sentence_floor=a.sentence_floor)
    if a.generator in ("llama-cpp", "openai"):
        from app.answer.llm_generator import LLMGenerator

        return LLMGenerator(build_language_model(settings, a.generator), max_tokens=settings.models.llm_max_tokens)
    raise InvalidInputError(f"unknown generator {a.generator!r}; valid: {', '.join(GENERATORS)}", "answer.generator")


def build_verifier(settings: Settings, embedder: Embedder, kind: str | None = None) -> Verifier | None:
    kind = kind or settings.answer.verifier
    if kind == "none":
        return None
    if kind == "fast":
        from app.verify.fast import FastVerifier

        return FastVerifier()  # its own static word-piece vectors: the features it was trained on
    if kind == "llm":
        from app.verify.llm_judge import LLMJudgeVerifier

        return LLMJudgeVerifier(build_language_model(settings))
    raise InvalidInputError(f"unknown verifier {kind!r}; valid: {', '.join(VERIFIERS)}", "answer.verifier")


def build_signer(settings: Settings) -> ProvenanceSigner:
    a = settings.answer
    key = a.provenance_key.get_secret_value() if a.provenance_key else None
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    return ProvenanceSigner.from_settings(key, admin, settings.data_dir)


def build_answer_service(
    settings: Settings, retrieval: RetrievalService, embedder: Embedder, guards: AnswerGuards | None
) -> AnswerService:
    a = settings.answer
    if a.unsupported not in ("remove", "flag"):
        raise InvalidInputError("answer.unsupported must be remove or flag", "answer.unsupported")
    verifier = build_verifier(settings, embedder)
    try:
        guidelines = GuidelineBook(a.guidelines)
    except ValueError as e:
        raise InvalidInputError(str(e), "answer.guidelines") from e
    return AnswerService(
        retrieval,
        build_generator(settings, embedder),
        evidence_floor=a.evidence_floor,
        passages=a.passages,
        guards=guards,
        gate=EvidenceGate.load(floor=a.evidence_floor) if a.evidence_gate else None,
        verification=AnswerVerification(verifier, a.unsupported) if verifier is not None else None,
        min_support=a.min_support,
        guidelines=guidelines,
        signer=build_signer(settings),
        label_text=a.label_text,
        visible_label=a.label,
    )
