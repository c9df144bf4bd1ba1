"""What an upload must pass before it is stored: safe names, the size limit while saving, document ids of a file,
user metadata, template parameters and metadata schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from app.core.errors import InvalidInputError, RejectedFileError
from app.core.metadata_schema import MetadataSchema
from ingest.pipeline import document_id_for
from ingest.templates import get_template

SAFE = re.compile(r"[^\w.\-() \u4e00-\u9fff]+")


def safe_name(filename: str | None) -> str:
    base = Path((filename or "").replace("\\", "/")).name.strip()
    base = SAFE.sub("_", base)[:200].strip(". ")
    return base or "unnamed"


def save(stream: BinaryIO, dest: Path, limit: int, name: str) -> tuple[int, bytes]:
    """Copy the upload to disk, stopping as soon as it exceeds the size limit. Returns (size, first bytes)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    size, head = 0, b""
    with open(dest, "wb") as out:
        while block := stream.read(1 << 20):
            if not head:
                head = block[:8192]
            size += len(block)
            if size > limit:
                out.close()
                dest.unlink(missing_ok=True)
                raise RejectedFileError(name, f"file is larger than the limit of {limit} bytes", "too_large")
            out.write(block)
    return size, head


def document_ids(tenant: str, collection: str, name: str, path: Path) -> list[str]:
    """Ids the upload answers with; a `.jsonl` corpus holds one document per line (its `_id`)."""
    if not name.lower().endswith(".jsonl"):
        return [document_id_for(tenant, collection, name)]
    ids = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                try:
                    ids.append(document_id_for(tenant, collection, str(json.loads(line)["_id"])))
                except (ValueError, KeyError, TypeError):
                    continue  # the parser reports the malformed line with its number
    return ids


def validate_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise InvalidInputError("metadata must be a JSON object", "metadata")
    out = {}
    for k, v in meta.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}", str(k)):
            raise InvalidInputError(f"metadata key {k!r} must be an identifier (letters, digits, _ and -)", "metadata")
        if not (
            isinstance(v, str | int | float | bool) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        ):
            raise InvalidInputError(
                f"metadata value for {k!r} must be a string, number, bool or list of strings", "metadata"
            )
        out[str(k)] = v
    return out


def check_template(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a template name and its parameters (unknown template → 422 listing the valid ones)."""
    params = params or {}
    if not isinstance(params, dict):
        raise InvalidInputError("template_params must be a JSON object", "template_params")
    get_template(name)
    try:
        get_template(name, **params)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"template {name!r}: invalid parameters: {e}", "template_params") from e
    return dict(params)


def parse_schema(raw: dict[str, Any]) -> MetadataSchema:
    """A collection's metadata schema from its JSON form; a bad schema is an input error."""
    return MetadataSchema.parse(raw)


def url_name(url: str, filename: str) -> str:
    """A flat, stable document name for a URL: host + path, keeping the fetched file's extension."""
    parts = urlsplit(url)
    stem = f"{parts.hostname or 'url'}{parts.path}".rstrip("/").replace("/", "_") or "url"
    suffix = Path(filename).suffix
    if suffix and not stem.lower().endswith(suffix.lower()):
        stem += suffix
    return SAFE.sub("_", stem)[:200]
