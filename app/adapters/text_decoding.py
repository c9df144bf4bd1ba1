"""Bytes → text for the plain-text formats, and a cheap language guess. No unstructured here.

Decoding order: a BOM wins; then UTF-16/32 recognised by their NUL pattern (files written without a BOM);
then strict UTF-8; then, for HTML, a declared ``<meta charset>``; last, charset-normalizer's best guess.
Whatever comes out must read as text: mostly control characters or NULs means the bytes are binary.
"""

from __future__ import annotations

import codecs
import re

from app.core.errors import RejectedFileError

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_SAMPLE = 65536
_MAX_BINARY_RATIO = 0.10  # share of control/replacement characters above which the bytes are not text
# Control characters other than whitespace, and U+FFFD from a lossy decode.
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_MIN_LETTERS = 50
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_KANA = re.compile(r"[\u3040-\u30ff]")


def decode_text(data: bytes, filename: str, *, html: bool = False, partial: bool = False) -> str:
    """Decode the bytes of a text file.

    Args:
        data: the file's bytes (or its first bytes when ``partial``).
        filename: named in the error.
        html: also honour a ``<meta charset=...>`` declaration.
        partial: ``data`` is only a head: tolerate a multi-byte character cut at the end.

    Returns:
        The text, without BOM.

    Raises:
        RejectedFileError: code ``encoding`` when the bytes are binary or cannot be decoded.
    """
    text = _decode(data, html=html, partial=partial)
    if text is None or _looks_binary(text):
        raise RejectedFileError(
            filename,
            "content is binary or in an unknown encoding, not text (tried BOM, UTF-8, UTF-16/32 and detection)",
            code="encoding",
        )
    return text


def utf8_if_wide(data: bytes) -> bytes:
    """UTF-16/32 bytes (by BOM or NUL pattern) re-encoded as UTF-8; other bytes unchanged.

    For formats read as bytes by their parser, such as e-mail, which expects an ASCII-compatible encoding.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data if encoding == "utf-8-sig" else data.decode(encoding, "replace").encode("utf-8")
    wide = _nul_pattern_encoding(data[:_SAMPLE])
    return data.decode(wide, "replace").encode("utf-8") if wide else data


def _decode(data: bytes, *, html: bool, partial: bool) -> str | None:
    errors = "ignore" if partial else "strict"  # a head may end inside a character
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _try(data, encoding, errors)
    wide = _nul_pattern_encoding(data[:_SAMPLE])
    if wide:
        return _try(data, wide, errors)
    try:
        # final=False leaves a character cut at the end of a head pending instead of failing on it.
        text: str | None = codecs.getincrementaldecoder("utf-8")().decode(data, final=not partial)
    except UnicodeDecodeError:
        text = None
    if text is not None:
        return text
    if html:
        declared = _META_CHARSET.search(data[:4096])
        if declared:
            text = _try(data, declared.group(1).decode("ascii", "ignore"), "strict")
            if text is not None:
                return text
    return _guess(data)


def _try(data: bytes, encoding: str, errors: str) -> str | None:
    try:
        return data.decode(encoding, errors)
    except (UnicodeDecodeError, LookupError):
        return None


def _nul_pattern_encoding(sample: bytes) -> str | None:
    """UTF-16/32 without BOM: mostly-ASCII text leaves NULs in fixed byte positions."""
    if len(sample) < 8 or b"\x00" not in sample:
        return None
    n = len(sample) - len(sample) % 4
    by_pos = [sample[k:n:4].count(0) / (n // 4) for k in range(4)]
    if by_pos[0] > 0.9 and by_pos[1] > 0.9 and by_pos[2] > 0.5 and by_pos[3] < 0.1:
        return "utf-32-be"
    if by_pos[3] > 0.9 and by_pos[2] > 0.9 and by_pos[1] > 0.5 and by_pos[0] < 0.1:
        return "utf-32-le"
    even, odd = (by_pos[0] + by_pos[2]) / 2, (by_pos[1] + by_pos[3]) / 2
    if even > 0.6 and odd < 0.1:
        return "utf-16-be"
    if odd > 0.6 and even < 0.1:
        return "utf-16-le"
    return None


def _guess(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    results = list(from_bytes(data))
    if not results:
        return None
    least = min(r.percent_chaos for r in results)
    tied = [r for r in results if r.percent_chaos <= least + 0.1]
    # Single-byte code pages often tie; Windows-1252 is the legacy encoding browsers assume for Latin text.
    for r in tied:
        if "cp1252" in r.could_be_from_charset:
            return str(r)
    return str(max(tied, key=lambda r: r.percent_coherence))


def _looks_binary(text: str) -> bool:
    sample = text[:_SAMPLE]
    if not sample:
        return False
    return len(_NOT_TEXT.findall(sample)) / len(sample) > _MAX_BINARY_RATIO


def detect_language(text: str, fallback: str = "en") -> str:
    """ISO 639-1 code of the text: ``zh`` when Han characters are over 20% of the letters, else langdetect's guess.

    Args:
        text: any text; only the first few thousand characters are looked at.
        fallback: returned when nothing can be told.
    """
    sample = text[:5000]
    return cjk_language(sample) or langdetect_code(sample, fallback)


def cjk_language(sample: str) -> str | None:
    """``zh`` when Han characters are over 20% of the letters (and it is not Japanese kana text); else None."""
    letters = sum(1 for c in sample if c.isalpha())
    if not letters:
        return None
    han, kana = len(_HAN.findall(sample)), len(_KANA.findall(sample))
    return "zh" if han / letters > 0.2 and kana / letters < 0.05 else None


def langdetect_code(sample: str, fallback: str = "en") -> str:
    """langdetect, made deterministic; its codes such as ``zh-cn`` are cut to the ISO 639-1 part."""
    # langdetect guesses wildly on a few words ("Test Slide" → German): too little to tell, take the fallback.
    if sum(1 for c in sample if c.isalpha()) < _MIN_LETTERS:
        return fallback
    try:
        from langdetect import DetectorFactory, LangDetectException, detect

        DetectorFactory.seed = 0
        return detect(sample).split("-")[0]
    except (ImportError, LangDetectException):
        return fallback
