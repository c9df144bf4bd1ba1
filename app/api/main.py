"""create_app(): lifespan (warm-up, job runner), routers and the one exception handler for domain errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.api import audit
from app.api.routes import chat, collections, documents, faq, grounding, guard, health, keys, query
from app.api.routes import eval as eval_routes
from app.api.schemas import ERROR_RESPONSES
from app.container import Services, build_services
from app.core.errors import (
    ConflictError,
    GroundedError,
    InvalidInputError,
    ModelError,
    NotFoundError,
    StoreError,
    UploadRejectedError,
)
from app.core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. Pass `services` to reuse already-built ones (tests, the demo command)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = services or build_services(settings or get_settings())
        if svc.settings.env == "production" and svc.settings.admin_key is None:
            raise RuntimeError("GROUNDED_ADMIN_KEY is required outside development (GROUNDED_ENV=production)")
        svc.warm_up()
        svc.start_background()
        app.state.services = svc
        yield
        if services is None:
            svc.close()

    limits = settings or (services.settings if services else get_settings())
    app = FastAPI(
        max_body_size=limits.max_request_bytes,
        title="grounded",
        version="0.1.0",
        description="Knowledge-grounding service: cited answers from your documents, or an explicit refusal.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    routers = (collections, documents, query, faq, grounding, chat, guard, eval_routes, keys, audit)
    for r in (m.router for m in routers):
        app.include_router(r, responses=ERROR_RESPONSES)
    app.add_exception_handler(GroundedError, _domain_error)
    app.middleware("http")(audit.audit_middleware)
    return app


def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    """Map domain errors to HTTP in one place. Messages are plain text in JSON, never reflected as HTML."""
    if isinstance(exc, NotFoundError):
        return JSONResponse({"detail": str(exc), "kind": exc.kind}, status_code=404)
    if isinstance(exc, ConflictError):
        return JSONResponse({"detail": str(exc)}, status_code=409)
    if isinstance(exc, InvalidInputError):
        body: dict[str, Any] = {"detail": str(exc), "field": exc.field}
        if isinstance(getattr(exc, "errors", None), list):  # row-level errors (suites, imports)
            body["errors"] = exc.errors
        return JSONResponse(body, status_code=422)
    if isinstance(exc, UploadRejectedError):
        return JSONResponse({"detail": "no file could be accepted", "rejected": exc.rejections}, exc.status_code)
    if isinstance(exc, StoreError | ModelError):
        log.error("backend failure: %s", exc)
        return JSONResponse({"detail": "a backend is unavailable, try again later"}, status_code=503)
    log.error("unhandled domain error: %s", exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)
