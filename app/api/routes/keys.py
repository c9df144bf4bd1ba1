"""API keys: admins create (shown once), list and revoke them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from app.api.auth import Admin
from app.api.deps import ServicesDep
from app.core.auth import Role

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyIn(BaseModel):
    role: Role
    tenant: str = Field(..., pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    groups: list[str] | None = Field(None, description="ACL groups the key may see (besides public documents)")
    name: str = Field("", max_length=200)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_key(body: KeyIn, services: ServicesDep, caller: Admin) -> dict[str, Any]:
    """The new key is in `key`: store it now, it is never shown again."""
    return services.keys.create(body.role, body.tenant, body.groups, body.name, created_by=caller.key_id)


@router.get("")
def list_keys(services: ServicesDep, caller: Admin, tenant: str | None = None) -> dict[str, Any]:
    return {"keys": services.keys.list(tenant)}


@router.delete("/{key_id}")
def revoke_key(key_id: str, services: ServicesDep, caller: Admin) -> dict[str, Any]:
    return services.keys.revoke(key_id)
