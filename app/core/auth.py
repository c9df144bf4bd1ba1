"""Who is calling and what they may do: roles, the caller (Principal) and the permission table.

Every request is made by a Principal: an API key's role, tenant and ACL groups. Tenant and groups are applied to every
read inside the store query (see `filters.scope_filter`), for every role — an admin key sees only its own groups'
documents too. Roles only decide which operations a key may call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything, including keys and the audit log, across tenants
    EDITOR = "editor"  # ingest, re-index, delete + what a reader does
    READER = "reader"  # retrieve, answer, read collections/documents/chunks/jobs
    EVALUATOR = "evaluator"  # evaluation runs + what a reader does


class Action(StrEnum):
    READ = "read"
    QUERY = "query"
    INGEST = "ingest"
    DELETE = "delete"
    EVAL = "eval"
    ADMIN = "admin"


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.EDITOR: frozenset({Action.READ, Action.QUERY, Action.INGEST, Action.DELETE}),
    Role.READER: frozenset({Action.READ, Action.QUERY}),
    Role.EVALUATOR: frozenset({Action.READ, Action.QUERY, Action.EVAL}),
}


@dataclass(frozen=True)
class Principal:
    """The caller. `groups` None means unrestricted — only the development-mode anonymous caller has that."""

    key_id: str
    role: Role
    tenant: str
    groups: tuple[str, ...] | None = ()
    name: str = ""

    def can(self, action: Action) -> bool:
        return action in PERMISSIONS[self.role]
