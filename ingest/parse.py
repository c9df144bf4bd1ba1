"""Parse stage: a stored upload → parsed documents, within the size limit and with some text to index."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.domain import ParsedDocument
from app.core.errors import RejectedFileError
from app.core.ports import Parser


@dataclass(frozen=True)
class ParseResult:
    """What the parse stage hands on: the documents of one file and how long parsing took."""

    documents: tuple[ParsedDocument, ...]
    elapsed_ms: float


class ParseStage:
    """Checks a file's size, lets the parser turn it into documents, and insists that there is text.

    Every way a file can fail is a `RejectedFileError` whose ``code`` the job runner records: ``too_large``
    here, the rest (``unsupported_type``, ``empty``, ``corrupt``...) from the parser.

    Usage::

        stage = ParseStage(UnstructuredParser(), max_file_bytes=50 * 1024 * 1024)
        result = stage.run("/data/uploads/7f3a", "handbook.pdf")
        result.documents[0].elements[0].page, result.elapsed_ms
    """

    def __init__(self, parser: Parser, max_file_bytes: int, cipher: Any | None = None) -> None:
        """Args: `cipher` (app.adapters.crypto.FileCipher) decrypts stored originals that are encrypted at rest."""
        if not isinstance(parser, Parser):
            raise ValueError(f"parser must implement the Parser port (a parse(path, filename) method), got {parser!r}")
        if isinstance(max_file_bytes, bool) or not isinstance(max_file_bytes, int) or max_file_bytes < 1:
            raise ValueError(f"max_file_bytes must be a positive integer, got {max_file_bytes!r}")
        self.parser = parser
        self.max_file_bytes = max_file_bytes
        self.cipher = cipher

    @contextlib.contextmanager
    def plaintext(self, path: str) -> Iterator[str]:
        """The file's readable bytes: a private temporary decrypted copy when originals are encrypted at rest."""
        from app.adapters.crypto import is_encrypted

        if self.cipher is None or not is_encrypted(path):
            yield path
            return
        with self.cipher.open_decrypted(path) as plain:
            yield str(Path(plain))

    def run(self, path: str, filename: str, max_file_bytes: int | None = None) -> ParseResult:
        """Parse one file.

        Args:
            path: where the file's bytes are.
            filename: its original name (the extension picks the format).
            max_file_bytes: overrides the constructor's limit for this call.

        Returns:
            The parsed documents (one per file, or one per record of a ``.jsonl`` corpus) and the time taken.

        Raises:
            RejectedFileError: ``too_large`` above the limit, ``no_text`` when no document has any text, and
                whatever the parser rejects.
            FileNotFoundError: ``path`` does not exist (a fault of the caller, not of the file).
        """
        limit = self.max_file_bytes if max_file_bytes is None else max_file_bytes
        size = os.path.getsize(path)
        if size > limit:
            raise RejectedFileError(
                filename,
                f"file is {_human(size)} ({size} bytes), over the limit of {_human(limit)} ({limit} bytes)",
                code="too_large",
            )
        t0 = time.perf_counter()
        documents = tuple(self.parser.parse(path, filename))
        if not any(e.text.strip() for doc in documents for e in doc.elements):
            raise RejectedFileError(filename, "parsed, but no document in the file has any text", code="no_text")
        return ParseResult(documents=documents, elapsed_ms=(time.perf_counter() - t0) * 1000)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
