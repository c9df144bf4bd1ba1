"""The audit trail of the HTTP API: every data operation and admin action, with who, what, when and the outcome.

A middleware records each mutating request (POST, PUT, PATCH, DELETE) — uploads, deletes, re-indexing, collection
and key changes — and every request refused for its credentials (401, 403, 429), after the response is sent, as one
hash-chained record (app/adapters/audit.py). Searches and answers (`/v1/retrieve`, `/v1/answer`, `/v1/guard/check`)
are reads and are not recorded: an append costs ~6 ms, too much for the query path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from app.api.auth import Admin
from app.api.deps import ServicesDep
from app.core.errors import InvalidInputError

log = logging.getLogger(__name__)

READ_ONLY_POSTS = frozenset(
    {
        "/v1/retrieve",
        "/v1/answer",
        "/v1/guard/check",
        "/v1/verify",
        "/v1/chat/completions",
        "/v1/faq/match",
        "/v1/provenance/verify",
    }
)
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

router = APIRouter(prefix="/v1/audit", tags=["audit"])


async def audit_middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    status = response.status_code
    denied = status in (401, 403, 429)
    if (request.method in MUTATING and request.url.path not in READ_ONLY_POSTS) or denied:
        services = getattr(request.app.state, "services", None)
        if services is not None:
            await asyncio.to_thread(_record, services, request, status)
    return response


def _record(services: Any, request: Request, status: int) -> None:
    principal = getattr(request.state, "principal", None)
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    outcome = "ok" if status < 400 else "denied" if status in (401, 403, 429) else "error"
    try:
        services.audit.append(
            actor=principal.key_id if principal else "unauthenticated",
            tenant=principal.tenant if principal else "",
            action=f"{request.method} {template}",
            target=request.url.path,
            outcome=outcome,
            details={"status": status, "client": request.client.host if request.client else None},
        )
    except Exception:  # the response has gone out; a failing audit store must be loud, not fatal
        log.exception("audit record failed for %s %s", request.method, request.url.path)


@router.get("")
def query_audit(
    services: ServicesDep,
    caller: Admin,
    tenant: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000_000),
) -> dict[str, Any]:
    """Audit records, newest first (admins only)."""
    try:
        records = services.audit.query(tenant, action, actor, since, until, limit, offset)
    except ValueError as e:
        raise InvalidInputError(f"since/until must be ISO-8601 timestamps: {e}", "since") from e
    return {"records": records, "limit": limit, "offset": offset}


@router.get("/verify")
def verify_audit(services: ServicesDep, caller: Admin) -> dict[str, Any]:
    """Walk the hash chain: `ok` false with the first bad record when anything was changed, removed or reordered."""
    result = services.audit.verify()
    head_id, head_hash = services.audit.head()
    return {
        "ok": result.ok,
        "records": result.records,
        "first_bad_id": result.first_bad_id,
        "reason": result.reason,
        "head": {"id": head_id, "hash": head_hash},
    }
