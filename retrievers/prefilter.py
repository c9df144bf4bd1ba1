"""Pre-filter: the caller's scope (tenant, collection, ACL) merged with the request's metadata filters."""

from __future__ import annotations

from app.core.domain import Query
from app.core.errors import InvalidInputError
from app.core.filters import SYSTEM_FIELDS, Filter, scope_filter


def build_filter(query: Query) -> Filter:
    """The filter applied inside every search. A request filter can narrow the scope, never widen it.

    The hard `filters` and the `soft_filters` are AND-ed, both validated the same way; recall recovery relaxes the
    soft ones by searching again with `soft_filters=None`.
    """
    given: list[Filter] = []
    for field, flt in (("filters", query.filters), ("soft_filters", query.soft_filters)):
        if flt is None:
            continue
        forbidden = flt.keys() & SYSTEM_FIELDS
        if forbidden:
            raise InvalidInputError(f"{field} may not use reserved field(s): {sorted(forbidden)}", field)
        if not flt.is_empty():
            given.append(flt)
    user = given[0] if len(given) == 1 else Filter(must=list(given)) if given else None
    return scope_filter(query.tenant, query.collection, query.acl_groups, user)
