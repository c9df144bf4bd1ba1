"""Guards: prompt-injection and harmful-request detection on input, document chunks and output; PII redaction,
exfiltration links and HTML sanitising on output. Rules (en, zh) plus a small hashed n-gram classifier
(`models/guard.npz`, trained by `python -m eval.train_guard`); numpy and the standard library only."""

from app.guards.detector import Guard, GuardInjectionDetector, GuardPolicy, GuardResult
from app.guards.output import OutputCheck, OutputGuard, neutralise_links, sanitize_html
from app.guards.pii import PII_KINDS, redact_pii
from app.guards.rules import ALL_CATEGORIES, INJECTION_CATEGORIES, RISK_CATEGORIES, SENSITIVE_CATEGORIES

__all__ = [
    "ALL_CATEGORIES",
    "INJECTION_CATEGORIES",
    "PII_KINDS",
    "RISK_CATEGORIES",
    "SENSITIVE_CATEGORIES",
    "Guard",
    "GuardInjectionDetector",
    "GuardPolicy",
    "GuardResult",
    "OutputCheck",
    "OutputGuard",
    "neutralise_links",
    "redact_pii",
    "sanitize_html",
]
