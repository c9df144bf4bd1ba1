"""PDF text layer: the text blocks of each page, the document info, and the encrypted-PDF check.

This is unstructured's ``strategy="fast"`` done without ``unstructured.partition.pdf``: that module imports
unstructured-inference's model stack (onnx, matplotlib, pi_heif...), which this project does not install.
Fast means pdfminer's layout analysis with default parameters, one block per text box; no OCR, no models.
"""

from __future__ import annotations

import functools
import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.errors import RejectedFileError

logger = logging.getLogger(__name__)

_WS = re.compile(r"\s+")
_PARAGRAPH = re.compile(r"\n\s*\n")
# Ligatures are one code point in many PDFs; spelled out so that "ﬁle" is found by "file".
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})


@dataclass(frozen=True)
class PdfContent:
    """Text blocks in reading order as ``(page_number, text)``, plus the document info."""

    blocks: tuple[tuple[int, str], ...]
    page_count: int
    title: str | None = None
    author: str | None = None
    created_at: str | None = None
    modified_at: str | None = None


def read_pdf(path: str, filename: str) -> PdfContent:
    """Read the text layer and the info of a PDF.

    Raises:
        RejectedFileError: ``type_mismatch`` (no ``%PDF-`` header), ``encrypted`` (needs a password),
            ``corrupt`` (pypdf or pdfminer cannot read it).
    """
    from app.adapters.file_checks import check_pdf_header

    with open(path, "rb") as f:
        check_pdf_header(filename, f.read(1024))
    info = _read_info(path, filename)
    try:
        blocks = _text_blocks(path)
    except RejectedFileError:
        raise
    except Exception as e:
        raise RejectedFileError(
            filename, f"damaged PDF, the text layer could not be read: {_short(e)}", "corrupt"
        ) from e
    return PdfContent(blocks=tuple(blocks), **info)


def _read_info(path: str, filename: str) -> dict[str, Any]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise RejectedFileError(
                filename, "PDF is password-protected: it cannot be opened without a password", "encrypted"
            )
        page_count = len(reader.pages)
        meta = reader.metadata
    except RejectedFileError:
        raise
    except Exception as e:
        raise RejectedFileError(filename, f"damaged PDF: {_short(e)}", code="corrupt") from e
    info: dict[str, Any] = {"page_count": page_count}
    if meta is None:
        return info
    info["title"] = _clean(meta.get("/Title"))
    info["author"] = _clean(meta.get("/Author"))
    info["created_at"] = _date(meta, "creation_date")
    info["modified_at"] = _date(meta, "modification_date")
    return info


def _date(meta: Any, attr: str) -> str | None:
    try:
        value = getattr(meta, attr)
    except Exception:  # pypdf raises on a malformed date string; a missing date is not a fault
        return None
    return value.isoformat() if isinstance(value, datetime) else None


def _clean(value: Any) -> str | None:
    text = _WS.sub(" ", str(value)).strip() if value is not None else ""
    return text or None


def _text_blocks(path: str) -> list[tuple[int, str]]:
    from pdfminer.psexceptions import PSSyntaxError

    try:
        return list(_extract(path))
    except PSSyntaxError:
        # Broken object syntax: unstructured repairs the file with pikepdf (qpdf) and reads it again; so do we.
        import pikepdf

        logger.info("repairing a PDF with invalid object syntax", extra={"path": path})
        with tempfile.TemporaryDirectory() as tmp, pikepdf.open(path) as pdf:
            repaired = str(Path(tmp) / "repaired.pdf")
            pdf.save(repaired)
            return list(_extract(repaired))


def _extract(path: str) -> list[tuple[int, str]]:
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTContainer
    from pdfminer.pdfinterp import PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.psexceptions import PSSyntaxError

    resources = PDFResourceManager()
    device = PDFPageAggregator(resources, laparams=LAParams())
    interpreter = _interpreter_class()(resources, device)
    out: list[tuple[int, str]] = []
    failures: list[tuple[int, Exception]] = []
    with open(path, "rb") as fp:
        for page_number, page in enumerate(PDFPage.get_pages(fp), start=1):
            try:
                interpreter.process_page(page)
            except PSSyntaxError:
                raise  # the whole file gets repaired
            except Exception as e:  # one broken page should not cost the others
                failures.append((page_number, e))
                continue
            for obj in device.get_result():
                if hasattr(obj, "get_text"):
                    snippets = [obj.get_text()]
                elif isinstance(obj, LTContainer):  # e.g. a figure holding loose characters
                    snippets = _PARAGRAPH.split(_container_text(obj))
                else:
                    continue
                for snippet in snippets:
                    text = _WS.sub(" ", snippet.translate(_LIGATURES)).strip()
                    if text:
                        out.append((page_number, text))
    if failures:
        if not out:
            raise failures[0][1]
        logger.warning("skipped unreadable PDF pages", extra={"path": path, "pages": [n for n, _ in failures]})
    return out


@functools.cache
def _interpreter_class() -> type:
    from pdfminer.pdfinterp import PDFPageInterpreter

    class _TextOnlyInterpreter(PDFPageInterpreter):
        def init_resources(self, resources: Any) -> None:
            try:
                super().init_resources(resources)
            except Exception:
                # A malformed ICC colour space fails the whole page in pdfminer; colours do not matter for text.
                # (unstructured drops colour spaces for every page by patching pdfminer globally.)
                if not (isinstance(resources, dict) and "ColorSpace" in resources):
                    raise
                super().init_resources({k: v for k, v in resources.items() if k != "ColorSpace"})

    return _TextOnlyInterpreter


def _container_text(item: Any) -> str:
    from pdfminer.layout import LTContainer

    if hasattr(item, "get_text"):
        return item.get_text()
    if isinstance(item, LTContainer):
        return "".join(_container_text(child) for child in item)
    return "\n"


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg[:200]}" if msg else type(e).__name__
