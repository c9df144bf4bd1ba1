"""Authentication, authorisation and rate limiting of API requests: one dependency per permission.

A key arrives as ``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``). The bootstrap admin key
(`GROUNDED_ADMIN_KEY`) is compared in constant time; other keys are looked up by id and compared by hash
(app/adapters/key_store.py). Missing or wrong key → 401; a role without the permission → 403; over the key's rate →
429 with Retry-After. Only in development mode *without* an admin key configured are anonymous requests allowed
(as an unrestricted admin of the default tenant) — the service refuses to start that way in production.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.core.auth import Action, Principal, Role

ANONYMOUS = "anonymous"


# Declared so the OpenAPI description shows how to authenticate; the header parsing below is ours.
_BEARER = HTTPBearer(auto_error=False, description="API key as a bearer token")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (alternative header)")


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(401, "Authorization header must be 'Bearer <API key>'", {"WWW-Authenticate": "Bearer"})
        return value.strip()
    return request.headers.get("x-api-key") or None


def authenticate(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
    _header: Annotated[str | None, Depends(_API_KEY)] = None,
) -> Principal:
    """The caller of this request (also stored on `request.state.principal` for the audit log)."""
    svc = request.app.state.services
    settings = svc.settings
    token = _token(request)
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    if token is None:
        if admin is None and settings.env != "production":
            principal = Principal(ANONYMOUS, Role.ADMIN, settings.default_tenant, None, "development mode")
            request.state.principal = principal
            return principal
        raise HTTPException(401, "missing API key (Authorization: Bearer <key>)", {"WWW-Authenticate": "Bearer"})
    if admin is not None and hmac.compare_digest(token.encode("utf-8"), admin.encode("utf-8")):
        principal = Principal("admin", Role.ADMIN, settings.admin_tenant, tuple(settings.admin_groups), "bootstrap")
    else:
        found = svc.keys.authenticate(token)
        if found is None:
            raise HTTPException(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
        principal = found
    wait = svc.limiter.take(principal.key_id)
    if wait is not None:
        raise HTTPException(429, "rate limit exceeded for this key", {"Retry-After": str(max(1, math.ceil(wait)))})
    request.state.principal = principal
    return principal


def require(action: Action) -> Callable[..., Principal]:
    """A dependency: the authenticated caller, if its role grants `action`; else 403."""

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.can(action):
            raise HTTPException(403, f"role '{principal.role.value}' may not {action.value}")
        return principal

    check.__name__ = f"require_{action.value}"
    return check


Reader = Annotated[Principal, Depends(require(Action.READ))]
Querier = Annotated[Principal, Depends(require(Action.QUERY))]
Ingester = Annotated[Principal, Depends(require(Action.INGEST))]
Deleter = Annotated[Principal, Depends(require(Action.DELETE))]
Evaluator = Annotated[Principal, Depends(require(Action.EVAL))]
Admin = Annotated[Principal, Depends(require(Action.ADMIN))]
