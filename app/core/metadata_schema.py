"""Typed collection metadata: a collection may declare the user metadata its uploads carry.

JSON shape::

    {"fields": {"year": {"type": "number", "required": true},
                "dept": {"type": "string", "allowed": ["eng", "sales"]},
                "published": {"type": "date"},
                "tags": {"type": "list[string]"}},
     "allow_extra": true}

Values are coerced at upload (``"2024"`` → 2024, ``"a, b"`` → ``["a", "b"]``) and dates are stored as unix seconds,
the unit `app.core.filters.Range` converts ISO dates to, so a date range filter on ``meta.<name>`` compares like with
like. `MetadataSchema.index_kinds` tells the store which typed payload index each field needs.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.core.errors import InvalidInputError
from app.core.filters import to_timestamp

MAX_FIELDS = 64
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    LIST_STRING = "list[string]"
    BOOL = "bool"


# The Qdrant payload index each type needs; dates are unix seconds, so they share the float index.
INDEX_KINDS: dict[FieldType, str] = {
    FieldType.STRING: "keyword",
    FieldType.LIST_STRING: "keyword",
    FieldType.NUMBER: "float",
    FieldType.DATE: "float",
    FieldType.BOOL: "bool",
}
_WITH_ALLOWED = {FieldType.STRING, FieldType.LIST_STRING, FieldType.NUMBER}


class FieldSpec(BaseModel):
    """One declared metadata field: its type, optionally the values it may take, and whether it must be given."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: FieldType
    allowed: list[Any] | None = None  # checked against the type below, so a bool is not read as 1
    required: bool = False
    description: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _allowed_fits_type(self) -> FieldSpec:
        if self.allowed is None:
            return self
        if self.type not in _WITH_ALLOWED:
            raise ValueError(f"'allowed' is only for string, list[string] and number fields, not {self.type.value}")
        if not self.allowed:
            raise ValueError("'allowed' must list at least one value")
        numeric = self.type is FieldType.NUMBER
        for v in self.allowed:
            is_number = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not (is_number if numeric else isinstance(v, str)):
                kind = "numbers" if numeric else "strings"
                raise ValueError(f"'allowed' of a {self.type.value} field must be {kind}, got {v!r}")
        return self


class MetadataSchema(BaseModel):
    """The metadata schema of a collection.

    Usage::

        schema = MetadataSchema.parse({"fields": {"year": {"type": "number", "required": True}}})
        schema.validate_values({"year": "2024", "team": "eng"})  # {'year': 2024, 'team': 'eng'}
        schema.index_kinds()  # {'meta.year': 'float'}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    allow_extra: bool = True

    @field_validator("fields")
    @classmethod
    def _names(cls, v: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        if len(v) > MAX_FIELDS:
            raise ValueError(f"at most {MAX_FIELDS} fields, got {len(v)}")
        for name in v:
            if not FIELD_NAME.fullmatch(name):
                raise ValueError(
                    f"field name {name!r} must be an identifier: a letter or _, then up to 63 of "
                    "letters, digits, _ and -"
                )
        return v

    @classmethod
    def parse(cls, data: Any) -> MetadataSchema:
        """A schema from its JSON form.

        Raises:
            InvalidInputError: on field ``metadata_schema``, naming every problem pydantic found.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'schema'}: {err['msg'].removeprefix('Value error, ')}"
                for err in e.errors()
            )
            raise InvalidInputError(f"invalid metadata schema: {problems}", "metadata_schema") from e

    def validate_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """The typed metadata to store for an upload.

        Args:
            values: the user metadata as given (JSON object).

        Returns:
            Declared fields coerced to their type (dates as unix seconds), undeclared ones unchanged; a declared
            field given as null or blank is left out.

        Raises:
            InvalidInputError: naming the key and what was expected, on field ``metadata.<key>``.
        """
        if not isinstance(values, dict):
            raise InvalidInputError("metadata must be a JSON object", "metadata")
        out: dict[str, Any] = {}
        for key, value in values.items():
            spec = self.fields.get(key)
            if spec is not None:
                typed = _coerce(key, spec, value)
                if typed is not None:
                    out[key] = typed
            elif self.allow_extra:
                out[check_untyped(key, value)] = value
            else:
                known = ", ".join(self.fields) or "none"
                raise InvalidInputError(
                    f"metadata {key!r} is not in the collection's schema (extra keys are not allowed); known: {known}",
                    f"metadata.{key}",
                )
        for name, spec in self.fields.items():
            if spec.required and name not in out:
                raise InvalidInputError(f"metadata {name!r} is required", f"metadata.{name}")
        return out

    def index_kinds(self) -> dict[str, str]:
        """``meta.<name>`` → Qdrant payload index kind (keyword | float | bool) for every declared field."""
        return {f"meta.{name}": INDEX_KINDS[spec.type] for name, spec in self.fields.items()}

    def describe(self) -> dict[str, Any]:
        """The JSON form, as the API shows it; `MetadataSchema.parse` reads it back."""
        return self.model_dump(mode="json", exclude_none=True)


def check_untyped(key: Any, value: Any) -> str:
    """The generic check for metadata without a declared type: an identifier key, a scalar or a list of strings."""
    if not isinstance(key, str) or not FIELD_NAME.fullmatch(key):
        raise InvalidInputError(f"metadata key {key!r} must be an identifier (letters, digits, _ and -)", "metadata")
    if not (
        isinstance(value, str | int | float | bool)
        or (isinstance(value, list) and all(isinstance(x, str) for x in value))
    ):
        raise InvalidInputError(
            f"metadata value for {key!r} must be a string, number, bool or list of strings", f"metadata.{key}"
        )
    return key


def _coerce(key: str, spec: FieldSpec, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # absent; `required` is checked on what is left
    kind = spec.type
    if kind is FieldType.STRING:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            _fail(key, "a string", value)
        typed: Any = value.strip() if isinstance(value, str) else str(value)
        _check_allowed(key, spec, [typed])
    elif kind is FieldType.NUMBER:
        typed = _number(key, value)
        _check_allowed(key, spec, [typed])
    elif kind is FieldType.DATE:
        typed = _date(key, value)
    elif kind is FieldType.LIST_STRING:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            _fail(key, "a list of strings or a comma-separated string", value)
        typed = list(dict.fromkeys(x.strip() for x in value if x.strip()))
        _check_allowed(key, spec, typed)
        typed = typed or None
    else:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            _fail(key, "true or false", value)
        typed = value
    return typed


def _number(key: str, value: Any) -> int | float:
    n: Any = value
    if isinstance(value, str):
        text = value.strip()
        try:
            n = int(text)
        except ValueError:
            try:
                n = float(text)
            except ValueError:
                _fail(key, "a number", value)
    if isinstance(n, bool) or not isinstance(n, int | float):
        _fail(key, "a number", value)
    if isinstance(n, float) and not math.isfinite(n):
        _fail(key, "a finite number", value)
    return n


def _date(key: str, value: Any) -> float:
    expected = "an ISO date (YYYY-MM-DD) or datetime (YYYY-MM-DDTHH:MM:SS[+HH:MM])"
    if isinstance(value, date | datetime):
        return to_timestamp(value)
    if not isinstance(value, str):
        _fail(key, expected, value)
    text = value.strip()
    try:
        float(text)  # a filter reads "20240101" as a number, so storing it as a date could never match
    except ValueError:
        pass
    else:
        _fail(key, expected, value)
    try:
        return to_timestamp(text)
    except ValueError:
        _fail(key, expected, value)


def _check_allowed(key: str, spec: FieldSpec, values: list[Any]) -> None:
    if spec.allowed is None:
        return
    for v in values:
        if v not in spec.allowed:
            allowed = ", ".join(str(a) for a in spec.allowed)
            raise InvalidInputError(f"metadata {key!r}: {v!r} not allowed; allowed: {allowed}", f"metadata.{key}")


def _fail(key: str, expected: str, value: Any) -> NoReturn:
    got = repr(value)
    got = got if len(got) <= 80 else got[:77] + "..."
    raise InvalidInputError(f"metadata {key!r}: expected {expected}, got {got}", f"metadata.{key}")
