"""The one typed filter model. Requests, the ACL/tenant pre-filter and both stores speak it.

JSON shape (a subset of Qdrant's, so it reads familiar)::

    {"must": [{"key": "file_type", "match": {"value": "pdf"}},
              {"key": "meta.year", "range": {"gte": 2020}}],
     "should": [...], "must_not": [...]}

A condition is either a field condition or a nested filter. Keys are the indexed payload fields in
`FILTERABLE_FIELDS` or user metadata under `meta.<name>`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Payload fields a caller may filter on. `tenant` is deliberately absent: it is merged in by the service.
FILTERABLE_FIELDS: dict[str, str] = {
    "collection": "keyword",
    "document_id": "keyword",
    "external_id": "keyword",
    "file_type": "keyword",
    "template": "keyword",
    "title": "keyword",
    "page": "integer",
    "position": "integer",
    "created_at": "float",  # unix seconds; ranges also accept ISO dates
    "section": "keyword",
}
SYSTEM_FIELDS = {"tenant", "acl_groups", "doc_hash"}
_META_KEY = re.compile(r"^meta\.[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str | int | bool | None = None
    any: list[str] | list[int] | None = None
    except_: list[str] | list[int] | None = Field(default=None, alias="except")

    @model_validator(mode="after")
    def _exactly_one(self) -> Match:
        given = [x for x in (self.value, self.any, self.except_) if x is not None]
        if len(given) != 1:
            raise ValueError("match needs exactly one of 'value', 'any', 'except'")
        return self


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @field_validator("gt", "gte", "lt", "lte", mode="before")
    @classmethod
    def _dates_to_seconds(cls, v: Any) -> Any:
        # Dates are stored as unix seconds so one numeric index serves both kinds of range.
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                pass
            try:
                return to_timestamp(v)
            except ValueError as e:
                raise ValueError(f"not a number or ISO date: {v!r}") from e
        return v

    @model_validator(mode="after")
    def _non_empty(self) -> Range:
        if all(x is None for x in (self.gt, self.gte, self.lt, self.lte)):
            raise ValueError("range needs at least one of gt, gte, lt, lte")
        return self


class FieldCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    match: Match | None = None
    range: Range | None = None

    @field_validator("key")
    @classmethod
    def _known_key(cls, v: str) -> str:
        if v in FILTERABLE_FIELDS or _META_KEY.match(v) or v in SYSTEM_FIELDS:
            return v
        raise ValueError(f"unknown filter key {v!r}; use one of {sorted(FILTERABLE_FIELDS)} or 'meta.<name>'")

    @model_validator(mode="after")
    def _one_of(self) -> FieldCondition:
        if (self.match is None) == (self.range is None):
            raise ValueError("a condition needs exactly one of 'match' or 'range'")
        return self


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    must: list[FieldCondition | Filter] = Field(default_factory=list)
    should: list[FieldCondition | Filter] = Field(default_factory=list)
    must_not: list[FieldCondition | Filter] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.must or self.should or self.must_not)

    def keys(self) -> set[str]:
        out: set[str] = set()
        for cond in [*self.must, *self.should, *self.must_not]:
            out |= cond.keys() if isinstance(cond, Filter) else {cond.key}
        return out


def eq(key: str, value: str | int | bool) -> FieldCondition:
    return FieldCondition(key=key, match=Match(value=value))


def any_of(key: str, values: list[str]) -> FieldCondition:
    return FieldCondition(key=key, match=Match(any=values))


def to_timestamp(value: str | date | datetime) -> float:
    """ISO date or datetime → unix seconds (naive values are taken as UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def scope_filter(
    tenant: str,
    collection: str | None,
    acl_groups: tuple[str, ...] | None,
    user: Filter | None,
) -> Filter:
    """Merge the caller's scope (tenant, collection, ACL) with a request filter.

    The scope goes into `must` next to the user's filter, never replacing it, so a request filter can only narrow
    what the caller may see. A user filter that names a system field is rejected by the caller's validation.
    """
    must: list[FieldCondition | Filter] = [eq("tenant", tenant)]
    if collection is not None:
        must.append(eq("collection", collection))
    if acl_groups is not None:
        # Public documents carry the group "*"; a caller sees those plus its own groups.
        must.append(any_of("acl_groups", sorted({"*", *acl_groups})))
    if user is not None and not user.is_empty():
        must.append(user)
    return Filter(must=must)
