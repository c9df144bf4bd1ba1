"""Answer verification: does the evidence support each claim? The fast verifier (a learned feature model plus
deterministic fact checks) lives here; the LLM judge beside it."""

from app.verify.consistency import FactCheck, check_facts, negation_mismatch, unsupported_facts
from app.verify.fast import DEFAULT_MODEL, FastVerifier, VerifierModel, WordpieceEmbedder, load_model
from app.verify.features import FEATURE_NAMES, compute_features

__all__ = [
    "DEFAULT_MODEL",
    "FEATURE_NAMES",
    "FactCheck",
    "FastVerifier",
    "VerifierModel",
    "WordpieceEmbedder",
    "check_facts",
    "compute_features",
    "load_model",
    "negation_mismatch",
    "unsupported_facts",
]
