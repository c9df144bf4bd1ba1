"""What a file is, told from its bytes: supported extensions, the upload precheck and the container checks.

Nothing here imports a parser library at import time, so the upload endpoint can call `precheck` on the first
bytes of a file without paying for unstructured. The container checks (`check_ooxml`, `check_html`) run before
parsing and reject what would exhaust or silently truncate the parser: zip bombs, over-deep HTML.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath

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
_MIB = 1024 * 1024
_ARCHIVE_MAGIC = (_ZIP_MAGIC, b"PK\x05\x06", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07")
_ARCHIVE_SUFFIXES = frozenset({".zip", ".jar", ".7z", ".rar"})
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ZipLimits:
    """What an OOXML container may hold before it is treated as a zip bomb.

    The real Office files under ../shared/data stay far below: at most 318 members, 6 MiB unpacked, 41:1.
    """

    max_total_bytes: int = 500 * _MIB  # sum of the members' uncompressed sizes
    max_members: int = 10_000
    max_ratio: float = 200.0  # uncompressed : compressed, for one member...
    ratio_min_bytes: int = 5 * _MIB  # ...that unpacks to more than this (tiny members may compress better)


ZIP_LIMITS = ZipLimits()


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


def check_ooxml(path: str, filename: str, ext: str, limits: ZipLimits = ZIP_LIMITS) -> None:
    """Verify that a .docx/.pptx/.xlsx really is that OOXML type, not encrypted and no zip bomb.

    Only the ZIP directory and the first bytes of each member are read; nothing is unpacked.

    Raises:
        RejectedFileError: ``encrypted`` (password-protected Office file), ``type_mismatch`` (not a ZIP, or
            another OOXML type), ``corrupt`` (a damaged ZIP, a member name that escapes the archive),
            ``zip_bomb`` (too many members, too much unpacked data, an extreme compression ratio, overlapping
            members or an archive nested inside).
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
            infos = zf.infolist()
            _check_zip_members(filename, infos, limits)
            _check_nested_archives(filename, zf, infos)
    except zipfile.BadZipFile as e:
        if "Overlapped entries" in str(e):  # many directory entries sharing one compressed stream
            raise RejectedFileError(filename, f"ZIP members overlap, a zip-bomb construction: {e}", "zip_bomb") from e
        raise RejectedFileError(filename, f"damaged ZIP container: {e}", code="corrupt") from e
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as e:  # RuntimeError: encrypted member
        raise RejectedFileError(filename, f"damaged ZIP container: {e}", code="corrupt") from e
    names = [i.filename for i in infos]
    folders = {p for p in _OOXML_NAME if any(n.startswith(p) for n in names)}
    if _OOXML_PART[ext] not in folders:
        found = _OOXML_NAME[folders.pop()] if len(folders) == 1 else "a ZIP archive that is no Office document"
        raise RejectedFileError(filename, f"content is {found}, not {ext}", code="type_mismatch")


def _check_zip_members(filename: str, infos: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    if len(infos) > limits.max_members:
        raise _bomb(filename, f"ZIP has {len(infos)} members, over the limit of {limits.max_members}")
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in PurePosixPath(name.replace("\\", "/")).parts:
            reason = f"ZIP member name {name[:200]!r} points outside the archive (path traversal)"
            raise RejectedFileError(filename, reason, code="corrupt")
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise _bomb(filename, f"ZIP unpacks to {_mib(total)}, over the limit of {_mib(limits.max_total_bytes)}")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_min_bytes and ratio > limits.max_ratio:
            reason = (
                f"ZIP member {info.filename[:200]!r} expands {ratio:.0f}:1 ({info.compress_size} bytes to "
                f"{_mib(info.file_size)}), over the limit of {limits.max_ratio:.0f}:1"
            )
            raise _bomb(filename, reason)


def _check_nested_archives(filename: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    for info in infos:
        # Office keeps embedded workbooks and charts (themselves OOXML ZIPs) under */embeddings/; no parser opens them.
        if info.is_dir() or "/embeddings/" in f"/{info.filename}":
            continue
        suffix = PurePosixPath(info.filename).suffix.lower()
        with zf.open(info) as member:
            magic = member.read(8)
        if suffix in _ARCHIVE_SUFFIXES or magic.startswith(_ARCHIVE_MAGIC):
            raise _bomb(filename, f"ZIP holds another archive ({info.filename[:200]!r}); nested archives are refused")


def check_html(filename: str, text: str) -> None:
    """Reject HTML that the HTML parser (libxml2, through lxml) would silently cut short.

    libxml2 stops at 256 levels of nesting and at text runs over 10 MB, drops the rest and reports it only in
    its error log: unstructured would then index a fraction of the page, or nothing, without saying so.

    Raises:
        RejectedFileError: ``too_complex``, with libxml2's own words.
    """
    from lxml import etree

    parser = etree.HTMLParser(remove_comments=True, remove_pis=True)  # as unstructured parses it
    try:
        etree.fromstring(text, parser)
    except ValueError:  # a str with an XML encoding declaration; unstructured retries with bytes too
        etree.fromstring(text.encode("utf-8"), parser)
    except etree.LxmlError:
        pass  # not our concern: unstructured reports unparseable HTML itself
    for err in parser.error_log:
        if err.type_name == "ERR_RESOURCE_LIMIT":
            what = err.message.strip().split(",")[0]
            reason = f"HTML exceeds the HTML parser's limits ({what}, at line {err.line}); the rest would be lost"
            raise RejectedFileError(filename, reason, code="too_complex")


def describe(head: bytes) -> str | None:
    """What the first bytes say the file is, e.g. ``a PNG image``; ``None`` when no known signature."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _mismatch(filename: str, ext: str, head: bytes) -> RejectedFileError:
    kind = describe(head) or ("text" if _is_texty(head) else "binary data of an unknown type")
    return RejectedFileError(filename, f"content does not match the {ext} extension: it is {kind}", "type_mismatch")


def _bomb(filename: str, reason: str) -> RejectedFileError:
    return RejectedFileError(filename, reason, code="zip_bomb")


def _mib(n: int) -> str:
    return f"{n / _MIB:.1f} MiB"


def _is_texty(head: bytes) -> bool:
    from app.adapters.text_decoding import decode_text

    try:
        decode_text(head[:4096], "", partial=True)
    except RejectedFileError:
        return False
    return True
