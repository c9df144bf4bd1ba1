"""Rule machinery: categories, the `Rule` type, normalisation, hidden payloads and malformed text.

A rule is a case-insensitive regex with a category, the kinds of text it applies to and trigger words: the regex
only runs when one of its triggers occurs in the lower-cased text (or, for a Chinese rule, when the text has CJK
characters), which keeps a 1,500-character chunk under a millisecond of regex work. The rule tables are in
`app.guards.patterns` (instructions aimed at the model) and `app.guards.topics` (risk and sensitive topics).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass

KINDS = ("input", "document", "output")
INJECTION_CATEGORIES = ("injection", "jailbreak", "exfiltration")
RISK_CATEGORIES = ("violence", "self_harm", "crime", "sexual", "hate", "privacy")
SENSITIVE_CATEGORIES = ("medical", "legal", "financial")
MALFORMED = "malformed"
ALL_CATEGORIES = (*INJECTION_CATEGORIES, *RISK_CATEGORIES, *SENSITIVE_CATEGORIES, MALFORMED)

_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
_SPACE = re.compile(r"\s+")
# Vertical tab and form feed are left alone: PDF text layers use them as page breaks.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile("[\U000e0000-\U000e007f]")
_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,}(?![0-9A-Fa-f])")
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    pattern: re.Pattern[str]
    kinds: frozenset[str]
    reason: str
    triggers: tuple[str, ...] = ()  # lower-case substrings, one of which every match contains; () = needs CJK


def normalise(text: str) -> str:
    """NFKC, invisible characters removed, whitespace collapsed: what every rule runs on."""
    text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", _INVISIBLE.sub("", text)).strip()


def match(rules: tuple[Rule, ...], norm: str, kind: str) -> list[tuple[Rule, str]]:
    """(rule, matched text) for every rule of `kind` that fires on normalised text."""
    low = norm.lower()
    cjk = _CJK.search(norm) is not None
    out = []
    for rule in rules:
        armed = any(t in low for t in rule.triggers) if rule.triggers else cjk
        if armed and kind in rule.kinds and (m := rule.pattern.search(norm)):
            out.append((rule, m.group(0)[:80]))
    return out


def decoded_payloads(text: str, limit: int = 8) -> list[str]:
    """Readable text hidden in base64 or hex runs (at most `limit` runs are tried), for a second rule pass."""
    out = []
    for m in [*_B64.finditer(text)][:limit] + [*_HEX.finditer(text)][:limit]:
        raw = m.group(0)
        try:
            data = bytes.fromhex(raw) if _HEX.fullmatch(raw) else base64.b64decode(raw + "=" * (-len(raw) % 4))
            decoded = data.decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        if len(decoded) >= 8 and sum(c.isprintable() or c.isspace() for c in decoded) >= 0.95 * len(decoded):
            out.append(decoded)
    return out


def hidden_tags(text: str) -> str | None:
    """ASCII smuggled in Unicode tag characters (invisible when rendered), decoded; None when there are none."""
    tags = _TAGS.findall(text)
    return "".join(chr(ord(c) - 0xE0000) for c in tags) if len(tags) >= 4 else None


def malformed_reason(text: object, max_chars: int) -> str | None:
    """Why text cannot be checked as it is: not a string, too long, invalid unicode, control or bidi characters."""
    if not isinstance(text, str):
        return f"not text: {type(text).__name__}"
    if len(text) > max_chars:
        return f"too long: {len(text)} characters > {max_chars}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid unicode (lone surrogate)"
    if n := len(_CONTROL.findall(text)):
        return f"{n} control character(s)"
    if _BIDI.search(text):
        return "bidirectional override characters"
    if text.count("\ufffd") >= max(3, len(text) // 20):
        return "replacement characters from a failed decoding"
    return None
