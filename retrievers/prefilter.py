"""Pre-filter: the caller's scope (tenant, collection, ACL) merged with the request's metadata filter."""

from __future__ import annotations

from app.core.domain import Query
from app.core.errors import InvalidInputError
from app.core.filters import SYSTEM_FIELDS, Filter, scope_filter


def build_filter(query: Query) -> Filter:
    """The filter applied inside every search. A request filter can narrow the scope, never widen it."""
    user: Filter | None = query.filters
    if user is not None:
        forbidden = user.keys() & SYSTEM_FIELDS
        if forbidden:
            raise InvalidInputError(f"filters may not use reserved field(s): {sorted(forbidden)}", "filters")
    return scope_filter(query.tenant, query.collection, query.acl_groups, user)
