"""What a file is, told from its bytes: supported extensions, the upload precheck and the container checks.

Nothing here imports a parser library, so the upload endpoint can call `precheck` on the first bytes of a
file without paying for unstructured.
"""

from __future__ import annotations

import zipfile
from pathlib import PurePath

from app.core.errors import RejectedFileError

TEXT_EXTENSIONS = frozenset({".txt", ".text", ".md", ".markdown", ".html", ".htm", ".csv", ".eml", ".jsonl"})
OOXML_EXTENSIONS = frozenset({".docx", ".pptx", ".xlsx"})
SUPPORTED_EXTENSIONS: frozenset[str] = TEXT_EXTENSIONS | OOXML_EXTENSIONS | {".pdf"}
PRECHECK_HEAD_BYTES = 8192  # how much of a file `precheck` wants to see

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (_ZIP_MAGIC, "a ZIP archive"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (_CFB_MAGIC, "an OLE2 compound file (legacy .doc/.xls/.ppt or an encrypted Office file)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"RIFF", "a RIFF media file (WAV/AVI/WebP)"),
    (b"ID3\x03", "an MP3 file"),
    (b"ID3\x04", "an MP3 file"),
    (b"{\\rtf", "an RTF document"),
)
# Top-level folder of the main part of each OOXML type.
_OOXML_PART = {".docx": "word/", ".pptx": "ppt/", ".xlsx": "xl/"}
_OOXML_NAME = {
    "word/": "a Word document (.docx)",
    "ppt/": "a PowerPoint deck (.pptx)",
    "xl/": "an Excel workbook (.xlsx)",
}


def extension(filename: str) -> str:
    """Lower-case extension with the dot, e.g. ``.pdf``; ``""`` when there is none."""
    return PurePath(filename).suffix.lower()


def precheck(filename: str, head: bytes, size: int) -> None:
    """Reject a file from its name, size and first bytes, before it is accepted for ingestion.

    Catches the unsupported extension, the empty file and the obvious type mismatch (a ``.pdf`` that is
    text, a ``.docx`` that is no ZIP, a ``.txt`` that is an image or binary). Passing it does not promise
    that the file parses.

    Args:
        filename: the name the file was uploaded under; its extension decides the expected type.
        head: the first bytes of the file (`PRECHECK_HEAD_BYTES` is plenty; fewer works).
        size: the size of the whole file in bytes.

    Raises:
        RejectedFileError: codes ``unsupported_type``, ``empty``, ``type_mismatch`` or ``encoding``.
    """
    ext = check_extension(filename)
    if size == 0:
        raise RejectedFileError(filename, "file is empty (0 bytes)", code="empty")
    if ext == ".pdf":
        check_pdf_header(filename, head)
    elif ext in OOXML_EXTENSIONS:
        if not (head.startswith(_ZIP_MAGIC) or head.startswith(_CFB_MAGIC)):
            raise _mismatch(filename, ext, head)
    else:
        check_text_head(filename, ext, head, complete=size <= len(head))


def check_extension(filename: str) -> str:
    """The file's extension when it is supported; else `RejectedFileError` ``unsupported_type``."""
    ext = extension(filename)
    if ext not in SUPPORTED_EXTENSIONS:
        shown = f"'{ext}'" if ext else "no extension"
        raise RejectedFileError(
            filename,
            f"unsupported file type ({shown}); supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))}",
            code="unsupported_type",
        )
    return ext


def check_pdf_header(filename: str, head: bytes) -> None:
    # The PDF spec allows junk before the header within the first 1024 bytes.
    if b"%PDF-" not in head[:1024]:
        raise _mismatch(filename, ".pdf", head)


def check_text_head(filename: str, ext: str, head: bytes, complete: bool) -> None:
    """A text format must not start like a known binary format, and must decode as text."""
    from app.adapters.text_decoding import decode_text

    if describe(head):
        raise _mismatch(filename, ext, head)
    text = decode_text(head, filename, html=ext in {".html", ".htm"}, partial=not complete)
    if complete and not text.strip():
        raise RejectedFileError(filename, "file contains only whitespace", code="empty")


def check_ooxml(path: str, filename: str, ext: str) -> None:
    """Verify that a .docx/.pptx/.xlsx really is that OOXML type, and not encrypted.

    Raises:
        RejectedFileError: ``encrypted`` (password-protected Office file), ``type_mismatch`` (not a ZIP, or
            another OOXML type), ``corrupt`` (a damaged ZIP).
    """
    with open(path, "rb") as f:
        head = f.read(8)
        if head.startswith(_CFB_MAGIC):
            # Password-protected OOXML is wrapped in an OLE2 file holding an "EncryptedPackage" stream.
            if "EncryptedPackage".encode("utf-16-le") in f.read():
                raise RejectedFileError(filename, "file is password-protected (encrypted Office document)", "encrypted")
            raise RejectedFileError(
                filename,
                f"content is a legacy binary Office file (.doc/.xls/.ppt), not {ext}; save it as {ext}",
                code="type_mismatch",
            )
    if not head.startswith(_ZIP_MAGIC):
        raise _mismatch(filename, ext, head)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise RejectedFileError(filename, f"damaged ZIP container: {e}", code="corrupt") from e
    folders = {p for p in _OOXML_NAME if any(n.startswith(p) for n in names)}
    if _OOXML_PART[ext] not in folders:
        found = _OOXML_NAME[folders.pop()] if len(folders) == 1 else "a ZIP archive that is no Office document"
        raise RejectedFileError(filename, f"content is {found}, not {ext}", code="type_mismatch")


def describe(head: bytes) -> str | None:
    """What the first bytes say the file is, e.g. ``a PNG image``; ``None`` when no known signature."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _mismatch(filename: str, ext: str, head: bytes) -> RejectedFileError:
    kind = describe(head) or ("text" if _is_texty(head) else "binary data of an unknown type")
    return RejectedFileError(filename, f"content does not match the {ext} extension: it is {kind}", "type_mismatch")


def _is_texty(head: bytes) -> bool:
    from app.adapters.text_decoding import decode_text

    try:
        decode_text(head[:4096], "", partial=True)
    except RejectedFileError:
        return False
    return True
