"""Errors of the kernel. One base class; precise subclasses carry the fields a caller needs."""

from __future__ import annotations


class GroundedError(Exception):
    """Base class for every fault the service raises on purpose."""


class NotFoundError(GroundedError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} not found: {key}")
        self.kind = kind
        self.key = key


class ConflictError(GroundedError):
    """The request contradicts stored state (e.g. a collection that already exists)."""


class InvalidInputError(GroundedError):
    """Input a caller can fix: a bad filter, an unknown template, an empty question."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RejectedFileError(GroundedError):
    """A file that cannot be ingested: unsupported, empty, corrupt, encrypted, too large.

    `permanent` tells a job runner not to retry.
    """

    def __init__(self, filename: str, reason: str, code: str = "rejected", permanent: bool = True) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason
        self.code = code
        self.permanent = permanent


class StoreError(GroundedError):
    """The vector store or metadata store failed; wraps the third-party error."""


class ModelError(GroundedError):
    """A model could not be loaded or failed at run time."""


class UploadRejectedError(GroundedError):
    """Every file of an upload was rejected before a job could start; `rejections` say why, per file."""

    def __init__(self, rejections: list[dict[str, str]], status_code: int = 422) -> None:
        super().__init__("; ".join(f"{r['filename']}: {r['reason']}" for r in rejections))
        self.rejections = rejections
        self.status_code = status_code
