"""Document properties read straight from the container: OOXML core properties and e-mail headers.

Read with the standard library, so the same code serves .docx, .pptx and .xlsx, and a bad property
never fails a parse: what cannot be read is simply left out.
"""

from __future__ import annotations

import logging
import re
import zipfile
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree import ElementTree

logger = logging.getLogger(__name__)

_NS = {
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
}
_WS = re.compile(r"\s+")
_ENCRYPTED_TYPES = {"application/pkcs7-mime", "application/x-pkcs7-mime", "multipart/encrypted"}


def office_properties(path: str) -> dict[str, str]:
    """``title``, ``author``, ``created_at``, ``modified_at`` from ``docProps/core.xml``, when present.

    Dates are ISO 8601 strings as the file states them (usually UTC, ``+00:00``).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            root = ElementTree.fromstring(zf.read("docProps/core.xml"))
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError, OSError) as e:
        logger.debug("no readable core properties", extra={"path": path, "error": str(e)})
        return {}
    found = {
        "title": _text(root.find("dc:title", _NS)),
        "author": _text(root.find("dc:creator", _NS)),
        "created_at": iso_date(_text(root.find("dcterms:created", _NS))),
        "modified_at": iso_date(_text(root.find("dcterms:modified", _NS))),
    }
    return {k: v for k, v in found.items() if v}


def email_headers(data: bytes) -> tuple[dict[str, str], bool]:
    """``subject``, ``from``, ``to`` and ``created_at`` (the Date header) of an e-mail when present, and whether
    its body is encrypted (S/MIME ``application/pkcs7-mime`` or PGP ``multipart/encrypted``)."""
    try:
        # compat32 keeps raw header strings: the modern policy parses lazily and can raise on access.
        msg = BytesParser(policy=policy.compat32).parsebytes(data, headersonly=True)
    except Exception as e:  # a malformed header block is no reason to drop the body
        logger.debug("unreadable e-mail headers", extra={"error": str(e)})
        return {}, False
    found = {
        "subject": _header(msg, "Subject"),
        "from": _header(msg, "From"),
        "to": _header(msg, "To"),
        "created_at": _email_date(_header(msg, "Date")),
    }
    content_type = (msg.get_content_type() or "").lower()
    encrypted = content_type in _ENCRYPTED_TYPES and "signed-data" not in str(msg.get("Content-Type", "")).lower()
    return {k: v for k, v in found.items() if v}, encrypted


def iso_date(value: str | None) -> str | None:
    """Normalise an ISO-ish date string (``2023-05-16T17:28:40Z``) to ``datetime.isoformat()``; else None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _email_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _header(msg: Any, name: str) -> str | None:
    raw = msg.get(name)
    if raw is None:
        return None
    try:  # RFC 2047 encoded words (=?utf-8?b?...?=) → text
        value = str(make_header(decode_header(str(raw))))
    except (HeaderParseError, LookupError, UnicodeDecodeError):
        value = str(raw)
    return _WS.sub(" ", value).strip() or None


def _text(node: ElementTree.Element | None) -> str | None:
    if node is None or node.text is None:
        return None
    return _WS.sub(" ", node.text).strip() or None
