"""Content labelling: a signed provenance record on every answer.

The record says who produced the answer and from what: request id, time, generator and model, tenant and
collection, the ids and content hashes of the cited chunks, and a SHA-256 of the answer text. It is signed with
HMAC-SHA256 over its canonical JSON. `verify(answer, record)` tells whether the record is authentic (signed with our
key, not edited) and whether the answer is unmodified (its hash matches).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.grounding import Citation

VERSION = 1
ALGORITHM = "HMAC-SHA256"


def answer_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ProvenanceSigner:
    """Signs and verifies provenance records.

    Usage::

        signer = ProvenanceSigner(b"secret key")
        record = signer.sign_answer("Refunds take 30 days [1].", request_id="r1", generator="extractive", ...)
        signer.verify("Refunds take 30 days [1].", record)   # {"authentic": True, "unmodified": True, ...}
    """

    def __init__(self, key: bytes, key_id: str | None = None) -> None:
        if len(key) < 16:
            raise ValueError("the provenance key must be at least 16 bytes")
        self.key = key
        self.key_id = key_id or hashlib.sha256(b"grounded-provenance-key-id" + key).hexdigest()[:12]

    @classmethod
    def from_settings(cls, provenance_key: str | None, admin_key: str | None, data_dir: Path) -> ProvenanceSigner:
        """The configured key; else one derived from the admin key; else a random per-install key kept (0600) in
        `<data_dir>/provenance.key` so records stay verifiable across restarts."""
        if provenance_key:
            return cls(provenance_key.encode())
        if admin_key:
            return cls(hmac.new(admin_key.encode(), b"grounded-provenance-v1", hashlib.sha256).digest())
        path = data_dir / "provenance.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    def sign_answer(
        self,
        answer: str,
        *,
        request_id: str,
        generator: str,
        model: str,
        tenant: str,
        collection: str,
        source: str,
        citations: tuple[Citation, ...] = (),
        ai_generated: bool = True,
    ) -> dict[str, Any]:
        record = {
            "version": VERSION,
            "request_id": request_id,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "generator": generator,
            "model": model,
            "tenant": tenant,
            "collection": collection,
            "source": source,
            "ai_generated": ai_generated,
            "chunks": [
                {"n": c.n, "chunk_id": c.chunk_id, "document_id": c.document_id, "sha256": answer_hash(c.text)}
                for c in citations
            ],
            "answer_sha256": answer_hash(answer),
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
        }
        return {**record, "signature": self._mac(record)}

    def verify(self, answer: str | None, record: dict[str, Any]) -> dict[str, Any]:
        """`authentic`: the signature matches the record (our key, nothing edited). `unmodified`: the answer's hash
        matches the record (None when no answer text was given)."""
        body = {k: v for k, v in record.items() if k != "signature"}
        signature = record.get("signature")
        authentic = isinstance(signature, str) and hmac.compare_digest(signature, self._mac(body))
        unmodified = (
            None if answer is None else hmac.compare_digest(answer_hash(answer), str(body.get("answer_sha256")))
        )
        if not authentic:
            reason = "the signature does not match: the record was not issued by this service or was edited"
            if body.get("key_id") not in (None, self.key_id):
                reason = "the record was signed with another key (key_id differs)"
        elif unmodified is False:
            reason = "the answer text differs from the one the record was issued for"
        else:
            reason = "authentic and unmodified" if unmodified else "authentic record"
        return {
            "authentic": authentic,
            "unmodified": unmodified,
            "valid": bool(authentic and unmodified is not False),
            "reason": reason,
            "request_id": body.get("request_id"),
            "created_at": body.get("created_at"),
        }

    def _mac(self, body: dict[str, Any]) -> str:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return hmac.new(self.key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
