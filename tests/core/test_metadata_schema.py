"""MetadataSchema: schema validation, coercion of every type, every error message, index kinds, and date values that a
`meta.<name>` range filter compares like with like."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from app.core.errors import InvalidInputError
from app.core.filters import FieldCondition, Filter, Range
from app.core.metadata_schema import FieldSpec, FieldType, MetadataSchema

SCHEMA = {
    "fields": {
        "dept": {"type": "string", "allowed": ["eng", "sales"], "description": "owning department"},
        "owner": {"type": "string", "required": True},
        "year": {"type": "number"},
        "level": {"type": "number", "allowed": [1, 2, 2.5]},
        "published": {"type": "date"},
        "tags": {"type": "list[string]"},
        "regions": {"type": "list[string]", "allowed": ["eu", "us", "apac"]},
        "public": {"type": "bool"},
    }
}


@pytest.fixture
def schema() -> MetadataSchema:
    return MetadataSchema.parse(SCHEMA)


def ts(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def invalid(schema: MetadataSchema, values: dict) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        schema.validate_values(values)
    return info.value


class TestSchemaDefinition:
    def test_parse_and_defaults(self, schema: MetadataSchema) -> None:
        assert schema.allow_extra is True
        assert schema.fields["owner"] == FieldSpec(type=FieldType.STRING, required=True)
        assert schema.fields["tags"].type is FieldType.LIST_STRING and schema.fields["tags"].required is False
        assert MetadataSchema() == MetadataSchema.parse({}) and MetadataSchema().fields == {}

    def test_describe_round_trips(self, schema: MetadataSchema) -> None:
        described = schema.describe()
        assert described["fields"]["dept"] == {
            "type": "string",
            "allowed": ["eng", "sales"],
            "required": False,
            "description": "owning department",
        }
        assert described["fields"]["tags"] == {"type": "list[string]", "required": False}
        assert described["allow_extra"] is True
        assert MetadataSchema.parse(described) == schema

    @pytest.mark.parametrize("name", ["a", "_x", "Year2", "due-date", "A" * 64, "x_" + "9" * 62])
    def test_valid_names(self, name: str) -> None:
        assert name in MetadataSchema.parse({"fields": {name: {"type": "string"}}}).fields

    @pytest.mark.parametrize("name", ["", "1year", "-x", "has space", "dot.ted", "ünï", "A" * 65, "meta.year"])
    def test_invalid_names(self, name: str) -> None:
        with pytest.raises(InvalidInputError, match="must be an identifier") as info:
            MetadataSchema.parse({"fields": {name: {"type": "string"}}})
        assert info.value.field == "metadata_schema"

    def test_at_most_64_fields(self) -> None:
        fields = {f"f{i}": {"type": "bool"} for i in range(64)}
        assert len(MetadataSchema.parse({"fields": fields}).fields) == 64
        fields["f64"] = {"type": "bool"}
        with pytest.raises(InvalidInputError, match="at most 64 fields, got 65"):
            MetadataSchema.parse({"fields": fields})

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ({"type": "date", "allowed": ["2024-01-01"]}, "'allowed' is only for string, list[string] and number"),
            (
                {"type": "bool", "allowed": [True]},
                "'allowed' is only for string, list[string] and number fields, not bool",
            ),
            ({"type": "string", "allowed": []}, "'allowed' must list at least one value"),
            ({"type": "string", "allowed": ["a", 1]}, "'allowed' of a string field must be strings, got 1"),
            (
                {"type": "list[string]", "allowed": [True]},
                "'allowed' of a list[string] field must be strings, got True",
            ),
            ({"type": "number", "allowed": ["1"]}, "'allowed' of a number field must be numbers, got '1'"),
            ({"type": "number", "allowed": [True]}, "'allowed' of a number field must be numbers, got True"),
            ({"type": "text"}, "Input should be 'string', 'number', 'date', 'list[string]' or 'bool'"),
            ({"type": "string", "default": "x"}, "fields.x.default: Extra inputs are not permitted"),
            ({}, "fields.x.type: Field required"),
        ],
    )
    def test_invalid_specs(self, spec: dict, message: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            MetadataSchema.parse({"fields": {"x": spec}})
        assert message in str(info.value)
        assert str(info.value).startswith("invalid metadata schema: ")

    def test_unknown_top_level_key_and_field_spec_directly(self) -> None:
        with pytest.raises(InvalidInputError, match="strict: Extra inputs are not permitted"):
            MetadataSchema.parse({"fields": {}, "strict": True})
        with pytest.raises(ValidationError):
            FieldSpec(type=FieldType.BOOL, allowed=["yes"])

    def test_index_kinds(self, schema: MetadataSchema) -> None:
        assert schema.index_kinds() == {
            "meta.dept": "keyword",
            "meta.owner": "keyword",
            "meta.year": "float",
            "meta.level": "float",
            "meta.published": "float",
            "meta.tags": "keyword",
            "meta.regions": "keyword",
            "meta.public": "bool",
        }
        assert MetadataSchema().index_kinds() == {}

    def test_index_keys_are_valid_filter_keys(self, schema: MetadataSchema) -> None:
        long = MetadataSchema.parse({"fields": {"a-" + "b" * 62: {"type": "string"}}})
        for key in [*schema.index_kinds(), *long.index_kinds()]:
            assert FieldCondition(key=key, match={"value": "x"}).key == key


class TestCoercion:
    def test_every_type(self, schema: MetadataSchema) -> None:
        values = {
            "dept": " eng ",
            "owner": "alice",
            "year": "2024",
            "level": "2.5",
            "published": "2024-03-15",
            "tags": "policy, hr ,, leave, policy",
            "regions": ["eu", "us"],
            "public": "TRUE",
        }
        assert schema.validate_values(values) == {
            "dept": "eng",
            "owner": "alice",
            "year": 2024,
            "level": 2.5,
            "published": ts(2024, 3, 15),
            "tags": ["policy", "hr", "leave"],
            "regions": ["eu", "us"],
            "public": True,
        }

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(2024, 2024), (3.5, 3.5), ("2024", 2024), (" -1.5e3 ", -1500.0), ("0", 0), (0, 0), ("7.0", 7.0)],
    )
    def test_number(self, schema: MetadataSchema, value: object, expected: float) -> None:
        typed = schema.validate_values({"owner": "a", "year": value})["year"]
        assert typed == expected and type(typed) is type(expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2024-03-15", ts(2024, 3, 15)),
            ("2024-03-15T10:30:00", ts(2024, 3, 15, 10, 30)),  # naive = UTC, as filters read it
            ("2024-03-15T10:30:00Z", ts(2024, 3, 15, 10, 30)),
            ("2024-03-15T12:30:00+02:00", ts(2024, 3, 15, 10, 30)),
            ("2024-03-15 10:30", ts(2024, 3, 15, 10, 30)),
            (date(2024, 3, 15), ts(2024, 3, 15)),
            (datetime(2024, 3, 15, 10, 30, tzinfo=UTC), ts(2024, 3, 15, 10, 30)),
        ],
    )
    def test_date_is_unix_seconds(self, schema: MetadataSchema, value: object, expected: float) -> None:
        typed = schema.validate_values({"owner": "a", "published": value})["published"]
        assert typed == expected and isinstance(typed, float)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(["a", " b ", "", "a"], ["a", "b"]), ("a,b", ["a", "b"]), ("single", ["single"]), ([], None), (" , ", None)],
    )
    def test_list_of_strings(self, schema: MetadataSchema, value: object, expected: list[str] | None) -> None:
        assert schema.validate_values({"owner": "a", "tags": value}).get("tags") == expected

    @pytest.mark.parametrize(
        ("value", "expected"), [(True, True), (False, False), ("true", True), ("False", False), (" false ", False)]
    )
    def test_bool(self, schema: MetadataSchema, value: object, expected: bool) -> None:
        assert schema.validate_values({"owner": "a", "public": value})["public"] is expected

    def test_string_accepts_numbers_as_text(self, schema: MetadataSchema) -> None:
        assert schema.validate_values({"owner": 42})["owner"] == "42"
        assert schema.validate_values({"owner": 4.5})["owner"] == "4.5"

    def test_null_or_blank_optional_fields_are_left_out(self, schema: MetadataSchema) -> None:
        assert schema.validate_values({"owner": "a", "year": None, "dept": "  ", "published": ""}) == {"owner": "a"}

    def test_input_is_not_mutated(self, schema: MetadataSchema) -> None:
        values = {"owner": "a", "tags": ["x", "x"]}
        schema.validate_values(values)
        assert values == {"owner": "a", "tags": ["x", "x"]}


class TestErrors:
    @pytest.mark.parametrize(
        ("values", "message", "field"),
        [
            ({"year": "abc"}, "metadata 'year': expected a number, got 'abc'", "metadata.year"),
            ({"year": True}, "metadata 'year': expected a number, got True", "metadata.year"),
            ({"year": [2024]}, "metadata 'year': expected a number, got [2024]", "metadata.year"),
            ({"year": "nan"}, "metadata 'year': expected a finite number, got 'nan'", "metadata.year"),
            ({"year": float("inf")}, "metadata 'year': expected a finite number, got inf", "metadata.year"),
            ({"dept": "hr"}, "metadata 'dept': 'hr' not allowed; allowed: eng, sales", "metadata.dept"),
            ({"dept": "Eng"}, "metadata 'dept': 'Eng' not allowed; allowed: eng, sales", "metadata.dept"),
            ({"dept": ["eng"]}, "metadata 'dept': expected a string, got ['eng']", "metadata.dept"),
            ({"dept": False}, "metadata 'dept': expected a string, got False", "metadata.dept"),
            ({"level": 3}, "metadata 'level': 3 not allowed; allowed: 1, 2, 2.5", "metadata.level"),
            ({"level": "1.5"}, "metadata 'level': 1.5 not allowed; allowed: 1, 2, 2.5", "metadata.level"),
            (
                {"published": "15/03/2024"},
                "metadata 'published': expected an ISO date (YYYY-MM-DD) or datetime (YYYY-MM-DDTHH:MM:SS[+HH:MM]), "
                "got '15/03/2024'",
                "metadata.published",
            ),
            ({"published": "2024"}, "metadata 'published': expected an ISO date", "metadata.published"),
            ({"published": "20240315"}, "metadata 'published': expected an ISO date", "metadata.published"),
            ({"published": 1710460800}, "metadata 'published': expected an ISO date", "metadata.published"),
            ({"published": "2024-02-30"}, "metadata 'published': expected an ISO date", "metadata.published"),
            (
                {"tags": [1, 2]},
                "metadata 'tags': expected a list of strings or a comma-separated string, got [1, 2]",
                "metadata.tags",
            ),
            ({"tags": {"a": 1}}, "metadata 'tags': expected a list of strings", "metadata.tags"),
            (
                {"regions": "eu, mars"},
                "metadata 'regions': 'mars' not allowed; allowed: eu, us, apac",
                "metadata.regions",
            ),
            ({"public": "yes"}, "metadata 'public': expected true or false, got 'yes'", "metadata.public"),
            ({"public": 1}, "metadata 'public': expected true or false, got 1", "metadata.public"),
        ],
    )
    def test_messages(self, schema: MetadataSchema, values: dict, message: str, field: str) -> None:
        err = invalid(schema, {"owner": "a", **values})
        assert str(err).startswith(message)
        assert err.field == field

    def test_long_values_are_cut_in_the_message(self, schema: MetadataSchema) -> None:
        err = invalid(schema, {"owner": "a", "year": "x" * 500})
        assert str(err).endswith("...") and len(str(err)) < 150

    @pytest.mark.parametrize("values", [{}, {"owner": None}, {"owner": "   "}, {"dept": "eng"}])
    def test_required(self, schema: MetadataSchema, values: dict) -> None:
        err = invalid(schema, values)
        assert str(err) == "metadata 'owner' is required"
        assert err.field == "metadata.owner"

    def test_not_an_object(self, schema: MetadataSchema) -> None:
        err = invalid(schema, ["owner", "a"])  # type: ignore[arg-type]
        assert (str(err), err.field) == ("metadata must be a JSON object", "metadata")


class TestExtraKeys:
    def test_allowed_extra_passes_unchanged(self, schema: MetadataSchema) -> None:
        out = schema.validate_values({"owner": "a", "team": "core", "n": 3, "flag": False, "labels": ["x", "y"]})
        assert out == {"owner": "a", "team": "core", "n": 3, "flag": False, "labels": ["x", "y"]}
        assert schema.validate_values({"owner": "a", "when": "2024-01-01"})["when"] == "2024-01-01"  # not typed

    @pytest.mark.parametrize(
        ("values", "message", "field"),
        [
            ({"bad key": 1}, "metadata key 'bad key' must be an identifier (letters, digits, _ and -)", "metadata"),
            ({"9lives": 1}, "metadata key '9lives' must be an identifier", "metadata"),
            (
                {"nested": {"a": 1}},
                "metadata value for 'nested' must be a string, number, bool or list of strings",
                "metadata.nested",
            ),
            (
                {"mixed": ["a", 1]},
                "metadata value for 'mixed' must be a string, number, bool or list of strings",
                "metadata.mixed",
            ),
            ({"empty": None}, "metadata value for 'empty' must be", "metadata.empty"),
        ],
    )
    def test_extra_keys_get_the_generic_checks(
        self, schema: MetadataSchema, values: dict, message: str, field: str
    ) -> None:
        err = invalid(schema, {"owner": "a", **values})
        assert str(err).startswith(message) and err.field == field

    def test_extra_keys_rejected_when_not_allowed(self) -> None:
        strict = MetadataSchema.parse({**SCHEMA, "allow_extra": False})
        err = invalid(strict, {"owner": "a", "team": "core"})
        assert str(err) == (
            "metadata 'team' is not in the collection's schema (extra keys are not allowed); "
            "known: dept, owner, year, level, published, tags, regions, public"
        )
        assert err.field == "metadata.team"
        assert strict.validate_values({"owner": "a"}) == {"owner": "a"}
        err = invalid(MetadataSchema(allow_extra=False), {"x": 1})
        assert str(err).endswith("known: none")


def matches(r: Range, value: float) -> bool:
    """Qdrant's range semantics on a stored number: every given bound must hold."""
    return (
        (r.gt is None or value > r.gt)
        and (r.gte is None or value >= r.gte)
        and (r.lt is None or value < r.lt)
        and (r.lte is None or value <= r.lte)
    )


class TestDateRangeFilter:
    """A stored date and a range filter on `meta.<name>` are both unix seconds from the same `to_timestamp`."""

    @pytest.fixture
    def dated(self) -> MetadataSchema:
        return MetadataSchema.parse({"fields": {"published": {"type": "date"}}})

    def range_of(self, body: dict) -> Range:
        flt = Filter.model_validate({"must": [{"key": "meta.published", "range": body}]})
        cond = flt.must[0]
        assert isinstance(cond, FieldCondition) and cond.range is not None
        return cond.range

    @pytest.mark.parametrize(
        ("stored", "body", "expected"),
        [
            ("2024-03-15", {"gte": "2024-01-01", "lt": "2025-01-01"}, True),
            ("2025-01-01", {"gte": "2024-01-01", "lt": "2025-01-01"}, False),  # lt is exclusive
            ("2024-01-01", {"gte": "2024-01-01"}, True),  # gte is inclusive, date = midnight UTC on both sides
            ("2024-01-01", {"gt": "2024-01-01"}, False),
            ("2024-01-01T00:00:01Z", {"gt": "2024-01-01"}, True),
            ("2024-03-15", {"lte": "2024-03-15T00:00:00Z"}, True),
            ("2024-03-15", {"lte": "2024-03-14T23:59:59"}, False),
            # 02:00 at +05:00 is 21:00 UTC the day before: time zones count on both sides.
            ("2024-01-01T02:00:00+05:00", {"gte": "2024-01-01"}, False),
            ("2024-01-01T02:00:00+05:00", {"gte": "2023-12-31T21:00:00Z", "lte": "2023-12-31T21:00:00Z"}, True),
            ("2024-06-01", {"gte": ts(2024, 5, 1), "lt": ts(2024, 7, 1)}, True),  # numbers: unix seconds
        ],
    )
    def test_range_on_a_schema_date(self, dated: MetadataSchema, stored: str, body: dict, expected: bool) -> None:
        value = dated.validate_values({"published": stored})["published"]
        assert matches(self.range_of(body), value) is expected

    def test_the_index_kind_serves_the_range(self, dated: MetadataSchema) -> None:
        # A float index is what a numeric range uses; a keyword index would leave date ranges unindexed.
        assert dated.index_kinds() == {"meta.published": "float"}
