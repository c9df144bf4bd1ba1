"""Dependencies, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.container import Services
from app.knowledge import KnowledgeBase


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_kb(request: Request) -> KnowledgeBase:
    return request.app.state.services.kb


ServicesDep = Annotated[Services, Depends(get_services)]
KbDep = Annotated[KnowledgeBase, Depends(get_kb)]
