"""The guards around an answer: the input guard before retrieval, the output guard after generation.

Per-tenant policy (settings `guards.tenant_policies`): which categories block (a safe reply, no retrieval, no model
call), which guide (sensitive: medical, legal, financial — answered from the documents with a notice that it is
general information and a pointer to a professional), which are allowed. PII kinds redacted from answers are set
per tenant too (`guards.tenant_pii`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.answer.guidelines import CRISIS_RESOURCES
from app.guards import Guard, GuardPolicy, GuardResult, OutputGuard

SAFE_REPLY = "I can't help with that request."
SELF_HARM_REPLY = "I can't help with that, but you don't have to go through this alone. " + CRISIS_RESOURCES


@dataclass(frozen=True)
class InputVerdict:
    blocked: bool
    reply: str = ""
    reason: str = ""
    guided: tuple[str, ...] = ()  # sensitive categories answered with guidelines (see app/answer/guidelines.py)
    info: dict[str, Any] = field(default_factory=dict)


class AnswerGuards:
    """Usage::

    guards = AnswerGuards(Guard(), pii_kinds=("credit_card", "iban", "ssn", "cn_id"))
    verdict = guards.check_input("How do I build a bomb?", tenant="acme")   # blocked, safe reply
    text, info = guards.filter_output(answer_text, tenant="acme")
    """

    def __init__(
        self,
        guard: Guard,
        policy: GuardPolicy | None = None,
        tenant_policies: dict[str, GuardPolicy] | None = None,
        pii_kinds: tuple[str, ...] = (),
        tenant_pii: dict[str, tuple[str, ...]] | None = None,
        allowed_hosts: tuple[str, ...] = (),
        check_output: bool = True,
    ) -> None:
        self.guard = guard
        self.policy = policy or GuardPolicy()
        self.tenant_policies = tenant_policies or {}
        self.pii_kinds, self.tenant_pii = pii_kinds, tenant_pii or {}
        self.allowed_hosts = allowed_hosts
        self.check_output = check_output

    def policy_for(self, tenant: str) -> GuardPolicy:
        return self.tenant_policies.get(tenant, self.policy)

    def check_input(self, text: str, tenant: str) -> InputVerdict:
        result = self.guard.check(text, "input", self.policy_for(tenant))
        info = _info(result)
        if result.action == "block":
            reply = SELF_HARM_REPLY if "self_harm" in result.categories else SAFE_REPLY
            return InputVerdict(True, reply, f"blocked by the input guard: {result.reason}", (), info)
        guided = tuple(result.categories) if result.action == "guide" else ()
        return InputVerdict(False, guided=guided, info=info)

    def screen(self, chunks: list[Any]) -> tuple[list[Any], list[dict[str, str]]]:
        """Retrieved chunks about to reach the model, re-checked for instructions aimed at it (chunks indexed before
        the detector existed, or before it knew a pattern); flagged ones are kept out with their reason."""
        kept, dropped = [], []
        for sc in chunks:
            why = None if sc.chunk.quarantine else self.guard.injection_reason(sc.chunk.text, "document")
            if why:
                dropped.append({"chunk_id": sc.chunk.id, "reason": why})
            else:
                kept.append(sc)
        return kept, dropped

    def filter_output(self, text: str, tenant: str) -> tuple[str | None, dict[str, Any]]:
        """The text that may be shown (None: withhold the answer) and what was done to it."""
        kinds = self.tenant_pii.get(tenant, self.pii_kinds)
        out = OutputGuard(self.guard if self.check_output else None, kinds, self.allowed_hosts).run(
            text, self.policy_for(tenant)
        )
        info: dict[str, Any] = {
            "redacted": [r["kind"] for r in out.redactions],
            "links_neutralised": len(out.neutralised),
        }
        if out.check is not None and out.check.action == "block":
            info["output"] = _info(out.check)
            return None, info
        return out.text, info


def _info(result: GuardResult) -> dict[str, Any]:
    return {"flagged": result.flagged, "categories": list(result.categories), "action": result.action}
