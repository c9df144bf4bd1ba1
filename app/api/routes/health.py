"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    checks: dict[str, str] = {}
    try:
        services.metadata.list_collections(services.settings.default_tenant)
        checks["metadata"] = "ok"
    except Exception as e:
        checks["metadata"] = f"error: {type(e).__name__}"
    try:
        from app.core.filters import scope_filter

        services.store.count(scope_filter(services.settings.default_tenant, None, None, None))
        checks["vector_store"] = "ok"
    except Exception as e:
        checks["vector_store"] = f"error: {type(e).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    return body if ok else JSONResponse(body, status_code=503)
