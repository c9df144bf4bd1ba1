"""Sensitive domains: guideline texts that steer an answer instead of refusing it.

For a medical, legal, financial or self-harm question the input guard says "guide" (per-tenant policy). The answer
is still built from the documents, but the generator gets the domain's instructions (general information only, no
personal advice, point to a professional) and the answer carries the domain's disclaimer — and, for self-harm, crisis
resources. Every text can be replaced in settings (`answer.guidelines`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app.core.grounding import Guidelines

CRISIS_RESOURCES = (
    "If you are in danger or thinking about hurting yourself, please contact local emergency services or a crisis "
    "line now (for example 988 in the US, 116 123 in the UK and much of Europe, 12356 in China), or talk to someone "
    "you trust."
)

BUILT_IN: dict[str, Guidelines] = {
    "medical": Guidelines(
        "medical",
        "This is a medical question. Give general information from the passages only; do not diagnose, do not "
        "recommend doses or treatments for the person asking, and say that a doctor should be consulted.",
        "This is general information from your documents, not medical advice. Please consult a doctor or another "
        "qualified health professional about your situation.",
    ),
    "legal": Guidelines(
        "legal",
        "This is a legal question. Give general information from the passages only; do not tell the person what to "
        "do in their case, and say that a qualified lawyer should be consulted.",
        "This is general information from your documents, not legal advice. Please consult a qualified lawyer about "
        "your situation.",
    ),
    "financial": Guidelines(
        "financial",
        "This is a financial question. Give general information from the passages only; do not recommend "
        "investments or personal financial decisions, and say that a qualified adviser should be consulted.",
        "This is general information from your documents, not financial advice. Please consult a qualified "
        "financial adviser about your situation.",
    ),
    "self_harm": Guidelines(
        "self_harm",
        "The person may be at risk of self-harm. Answer with care, only with supportive information from the "
        "passages (support services, contacts, policies); never describe methods; encourage reaching out for help.",
        "You don't have to go through this alone. " + CRISIS_RESOURCES,
    ),
}


class GuidelineBook:
    """Guideline texts per sensitive domain; settings override the built-in ones field by field.

    Usage::

        book = GuidelineBook({"medical": {"disclaimer": "Ask our on-site nurse."}})
        g = book.for_categories(["medical"])      # Guidelines or None
    """

    def __init__(self, overrides: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.book = dict(BUILT_IN)
        for domain, texts in (overrides or {}).items():
            if unknown := set(texts) - {"instructions", "disclaimer"}:
                raise ValueError(f"unknown guideline fields {sorted(unknown)}; valid: instructions, disclaimer")
            base = self.book.get(domain, Guidelines(domain, "", ""))
            self.book[domain] = Guidelines(
                domain, texts.get("instructions", base.instructions), texts.get("disclaimer", base.disclaimer)
            )

    def for_categories(self, categories: Iterable[str]) -> Guidelines | None:
        """One Guidelines for the question's sensitive categories (several are merged; self-harm first)."""
        found = [self.book[c] for c in sorted(set(categories), key=lambda c: c != "self_harm") if c in self.book]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        return Guidelines(
            "+".join(g.domain for g in found),
            " ".join(g.instructions for g in found),
            " ".join(g.disclaimer for g in found),
        )
