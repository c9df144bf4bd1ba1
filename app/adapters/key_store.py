"""API keys in the metadata database: created, listed, revoked; a secret is stored only as its SHA-256.

A key reads ``grk_<id>_<secret>``: the id (12 hex) finds the row, the secret (32 random bytes, urlsafe base64) is
compared by hash in constant time. SHA-256 (no salt, no stretching) is enough for 256-bit random secrets: nothing to
guess, and the lookup stays fast on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.adapters.metadata_db import SqlMetadataStore
from app.adapters.metadata_models import KeyRow
from app.core.auth import Principal, Role
from app.core.errors import InvalidInputError, NotFoundError

PREFIX = "grk_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class SqlKeyStore:
    """Usage::

    keys = SqlKeyStore(metadata_store)
    created = keys.create(Role.READER, "acme", ["hr"], name="chat frontend", created_by="admin")
    keys.authenticate(created["key"])  # → Principal(role=reader, tenant=acme, groups=("hr",))
    """

    def __init__(self, metadata: SqlMetadataStore, cache_ttl_s: float = 5.0) -> None:
        """Args: `cache_ttl_s` — how long a verified key is trusted without a database read (a key revoked by
        another process stops working within this time; in this process at once)."""
        self.metadata = metadata
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def create(
        self, role: Role | str, tenant: str, groups: list[str] | None = None, name: str = "", created_by: str = ""
    ) -> dict[str, Any]:
        """A new key; the returned dict holds the key itself (`key`) — the only time it is ever shown."""
        try:
            role = Role(role)
        except ValueError:
            raise InvalidInputError(
                f"unknown role {role!r}; valid: {', '.join(r.value for r in Role)}", "role"
            ) from None
        if not tenant or not tenant.replace("-", "").replace("_", "").isalnum() or len(tenant) > 64:
            raise InvalidInputError("tenant: 1-64 letters, digits, '-' or '_'", "tenant")
        clean = sorted({g.strip() for g in groups or [] if g.strip()})
        if any(g == "*" or len(g) > 128 for g in clean):
            raise InvalidInputError("groups: names up to 128 characters; '*' is reserved", "groups")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        row = KeyRow(
            id=key_id,
            secret_hash=_hash(secret),
            role=role.value,
            tenant=tenant,
            groups=clean,
            name=name[:200],
            created_at=datetime.now(UTC),
            created_by=created_by,
            revoked_at=None,
        )
        with self.metadata.session() as s:
            s.add(row)
            s.flush()
            return _out(row) | {"key": f"{PREFIX}{key_id}_{secret}"}

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None when the key is malformed, unknown, revoked or wrong."""
        if not key.startswith(PREFIX) or key.count("_") < 2:
            return None
        token = _hash(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal = self._lookup(key)
        if principal is not None and self.cache_ttl_s > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[token] = (principal, now + self.cache_ttl_s)
        return principal

    def _lookup(self, key: str) -> Principal | None:
        key_id, secret = key[len(PREFIX) :].split("_", 1)
        with self.metadata.session() as s:
            row = s.get(KeyRow, key_id)
            # Compare even when the row is missing, so timing does not tell whether an id exists.
            expected = row.secret_hash if row is not None else _hash("")
            ok = hmac.compare_digest(expected, _hash(secret))
            if row is None or not ok or row.revoked_at is not None:
                return None
            return Principal(row.id, Role(row.role), row.tenant, tuple(row.groups or ()), row.name)

    def list(self, tenant: str | None = None) -> list[dict[str, Any]]:
        stmt = select(KeyRow).order_by(KeyRow.created_at, KeyRow.id)
        if tenant is not None:
            stmt = stmt.where(KeyRow.tenant == tenant)
        with self.metadata.session() as s:
            return [_out(r) for r in s.scalars(stmt)]

    def revoke(self, key_id: str) -> dict[str, Any]:
        with self.metadata.session() as s:
            row = s.get(KeyRow, key_id)
            if row is None:
                raise NotFoundError("key", key_id)
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            with self._lock:
                self._cache = {t: v for t, v in self._cache.items() if v[0].key_id != key_id}
            s.flush()
            return _out(row)


def _out(row: KeyRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "role": row.role,
        "tenant": row.tenant,
        "groups": list(row.groups or []),
        "name": row.name,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "created_by": row.created_by,
        "revoked": row.revoked_at is not None,
    }
