"""PII redaction: e-mail, phone numbers, payment cards (Luhn), IBAN (mod 97), US SSN, Chinese resident ID (checksum).

Numbers are validated, not just matched: a 16-digit number that fails the Luhn check is not a card, an 18-digit
number with a wrong check character is not a resident ID. Kinds are tried in a fixed order (most specific first)
and a span already taken is never matched twice, so an ID number is not also reported as a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

PII_KINDS = ("email", "cn_id", "credit_card", "iban", "ssn", "phone")

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def luhn_ok(number: str) -> bool:
    """Luhn checksum of a digit string (payment cards)."""
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return len(digits) > 1 and total % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters to numbers, the result mod 97 is 1."""
    s = iban.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def cn_id_ok(number: str) -> bool:
    """GB 11643 check character of an 18-character Chinese resident identity number."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11] == number[17].upper()


def _digits_between(lo: int, hi: int) -> Callable[[str], bool]:
    return lambda s: lo <= sum(c.isdigit() for c in s) <= hi


_PATTERNS: dict[str, tuple[re.Pattern[str], Callable[[str], bool]]] = {
    "email": (
        re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
        lambda s: True,
    ),
    "cn_id": (
        re.compile(
            r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])"
        ),
        cn_id_ok,
    ),
    "credit_card": (
        re.compile(r"(?<![\d+-])[2-6](?:[ -]?\d){12,18}(?![\d-])"),  # issuer prefixes start with 2-6
        lambda s: 13 <= sum(c.isdigit() for c in s) <= 19 and luhn_ok(s),
    ),
    "iban": (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), iban_ok),
    "ssn": (re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"), lambda s: True),
    "phone": (
        re.compile(
            r"(?<![\w+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"  # Chinese mobile
            r"|(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\d)"  # international
            r"|(?<![\w+])\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"  # North American
            r"|(?<![\w+])0\d{1,4}[ -]\d{3,4}[ -]?\d{3,4}(?!\d)"  # national with trunk prefix (010-…, 020 …)
        ),
        _digits_between(7, 15),
    ),
}


def redact_pii(
    text: str, kinds: Iterable[str] | None = None, marker: str = "[REDACTED:{kind}]"
) -> tuple[str, list[dict[str, Any]]]:
    """Replace PII of the given kinds (default: all) by a marker.

    Returns:
        The redacted text and what was found: `{"kind", "span": (start, end)}` in the *original* text, in order.

    Raises:
        ValueError: an unknown kind.
    """
    wanted = PII_KINDS if kinds is None else tuple(kinds)
    if unknown := set(wanted) - set(PII_KINDS):
        raise ValueError(f"unknown PII kinds {sorted(unknown)}; valid: {list(PII_KINDS)}")
    taken: list[tuple[int, int, str]] = []
    for kind in PII_KINDS:
        if kind not in wanted:
            continue
        pattern, valid = _PATTERNS[kind]
        for m in pattern.finditer(text):
            s, e = m.span()
            if valid(m.group(0)) and not any(s < te and ts < e for ts, te, _ in taken):
                taken.append((s, e, kind))
    taken.sort()
    out, last = [], 0
    for s, e, kind in taken:
        out += [text[last:s], marker.format(kind=kind)]
        last = e
    out.append(text[last:])
    return "".join(out), [{"kind": k, "span": (s, e)} for s, e, k in taken]
