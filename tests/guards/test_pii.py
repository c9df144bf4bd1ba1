"""PII redaction: every kind, with the numbers that look like PII but are not."""

from __future__ import annotations

import pytest

from app.guards.pii import PII_KINDS, cn_id_ok, iban_ok, luhn_ok, redact_pii


def kinds_found(text: str, kinds: tuple[str, ...] | None = None) -> list[str]:
    return [f["kind"] for f in redact_pii(text, kinds)[1]]


class TestValidators:
    def test_luhn(self) -> None:
        assert luhn_ok("4111 1111 1111 1111") and luhn_ok("5500-0000-0000-0004")
        assert not luhn_ok("4111 1111 1111 1112")

    def test_iban(self) -> None:
        assert iban_ok("DE89 3704 0044 0532 0130 00") and iban_ok("GB82WEST12345698765432")
        assert not iban_ok("DE89 3704 0044 0532 0130 01") and not iban_ok("XX00")

    def test_chinese_id_checksum(self) -> None:
        assert cn_id_ok("11010519491231002X") and cn_id_ok("11010519491231002x")
        assert not cn_id_ok("110105194912310021") and not cn_id_ok("11010519491231002")


class TestRedact:
    @pytest.mark.parametrize(
        ("text", "kind"),
        [
            ("write to jane.doe+hr@corp.example.com today", "email"),
            ("call +1 (415) 555-2671", "phone"),
            ("call 415-555-2671", "phone"),
            ("London office +44 20 7946 0958", "phone"),
            ("手机 13812345678", "phone"),
            ("手机 +86 138 1234 5678", "phone"),
            ("北京办公室 010-12345678", "phone"),
            ("card 4111 1111 1111 1111 exp 12/27", "credit_card"),
            ("card 4111-1111-1111-1111", "credit_card"),
            ("IBAN DE89 3704 0044 0532 0130 00", "iban"),
            ("SSN 123-45-6789", "ssn"),
            ("身份证 11010519491231002X", "cn_id"),
        ],
    )
    def test_each_kind(self, text: str, kind: str) -> None:
        redacted, found = redact_pii(text)
        assert [f["kind"] for f in found] == [kind]
        assert f"[REDACTED:{kind}]" in redacted
        s, e = found[0]["span"]
        assert text[s:e] not in redacted

    @pytest.mark.parametrize(
        "text",
        [
            "order 4111 1111 1111 1112 shipped",  # 16 digits, fails Luhn: not a card
            "身份证 110105194912310021",  # wrong check character
            "SSN 000-12-3456 is not issued",
            "on 2022-02-01 at 10:30 the total was 1234567",
            "version 1.2.3.4, ISBN 978-3-16-148410-0",
            "see RFC 7231 section 6.5.1",
        ],
    )
    def test_look_alikes_are_left_alone(self, text: str) -> None:
        assert redact_pii(text) == (text, [])

    def test_an_iban_with_wrong_check_digits_is_not_an_iban(self) -> None:
        assert kinds_found("IBAN DE89 3704 0044 0532 0130 01", ("iban",)) == []

    def test_a_phone_number_is_not_a_card_by_luhn_chance(self) -> None:
        assert kinds_found("手机 +86 138 1234 5678") == ["phone"]

    def test_spans_point_into_the_original_text(self) -> None:
        text = "a@b.example and 13812345678"
        _, found = redact_pii(text)
        assert [text[s:e] for s, e in (f["span"] for f in found)] == ["a@b.example", "13812345678"]

    def test_only_the_kinds_asked_for(self) -> None:
        text = "mail a@b.example, phone 13812345678"
        assert kinds_found(text, ("phone",)) == ["phone"]
        assert redact_pii(text, ())[0] == text

    def test_an_id_number_is_not_also_a_phone_or_card(self) -> None:
        assert kinds_found("ID 11010519491231002X") == ["cn_id"]

    def test_custom_marker(self) -> None:
        assert redact_pii("x@y.example", marker="<{kind}>")[0] == "<email>"

    def test_unknown_kind(self) -> None:
        with pytest.raises(ValueError, match="unknown PII kinds"):
            redact_pii("x", ("passport",))

    def test_all_kinds_listed(self) -> None:
        assert set(PII_KINDS) == {"email", "phone", "credit_card", "iban", "ssn", "cn_id"}
