"""The `email` template: the new message apart from the quoted history, the headers on every chunk."""

from __future__ import annotations

import re

from app.core.domain import ParsedDocument
from ingest.templates.base import (
    ChunkDraft,
    Line,
    SizedTemplate,
    decorate,
    general_split,
    lines_of,
    piece,
)

HEADER_FIELDS = ("from", "to", "cc", "date", "subject")
# Where the history starts: everything from such a line on is quoted.
_HISTORY = re.compile(
    r"^(?:-{2,}\s*(?:Original Message|Forwarded message|Ursprüngliche Nachricht|原始邮件)\s*-{2,}"
    r"|_{10,}$"
    r"|On\s.{0,300}\swrote:$"
    r"|在\s?.{0,200}写道[:：]$"
    r"|(?:From|发件人)\s*[:：].{0,300}(?:Sent|Date|发送时间|日期)\s*[:：]"
    r"|发件人\s*[:：]"
    r"|\d{4}[/-]\d{1,2}[/-]\d{1,2}\s.{0,200}<[^<>@\s]+@[^<>\s]+>:?$"
    r")",
    re.IGNORECASE,
)
_FROM_LINE = re.compile(r"^From\s*:\s*\S")
_HEADER_BLOCK = re.compile(r"^(?:Sent|Date|To|Subject)\s*:", re.IGNORECASE)


def headers(doc: ParsedDocument) -> dict[str, str]:
    """``from``, ``to``, ``cc``, ``date`` and ``subject`` from the parser's metadata, where present (the parser
    stores the Date header as ``created_at``)."""
    meta = doc.metadata
    found = {key: meta.get(key) for key in HEADER_FIELDS}
    found["date"] = found["date"] or meta.get("created_at")
    return {k: str(v) for k, v in found.items() if v}


def quoted_flags(lines: list[Line]) -> list[bool]:
    """For every line, whether it belongs to quoted history: ``>`` lines, and everything from a history marker
    (``On … wrote:``, ``-----Original Message-----``, ``From: … Sent: …``, ``发件人：``) to the end."""
    flags: list[bool] = []
    history = False
    for i, line in enumerate(lines):
        nxt = lines[i + 1].text if i + 1 < len(lines) else ""
        # Outlook's header block on separate lines: "From: x" followed by "Sent:"/"To:".
        outlook = bool(_FROM_LINE.match(line.text)) and bool(_HEADER_BLOCK.match(nxt))
        two_line_on = line.text.startswith("On ") and not line.text.endswith("wrote:") and nxt.endswith("wrote:")
        if not history and (_HISTORY.match(line.text) or outlook or (two_line_on and len(nxt) < 200)):
            history = True
        flags.append(history or line.text.startswith(">"))
    return flags


class EmailTemplate(SizedTemplate):
    """E-mails: the headers (from, to, cc, date, subject) are in the ``fields`` of every chunk and the subject is
    prefixed to the index text; the new message (``fields["part"] = "message"``) and the quoted history
    (``part="quoted"``: ``>`` lines, and everything after ``On … wrote:``, ``-----Original Message-----``,
    ``From: … Sent: …`` or ``发件人：``) are chunked apart.

    Usage::

        drafts = EmailTemplate().split(parsed_eml)
        [d.fields["part"] for d in drafts]  # ["message", "quoted", "quoted"]
    """

    name = "email"

    def split(self, doc: ParsedDocument) -> list[ChunkDraft]:
        text = doc.text
        head = headers(doc)
        subject = head.get("subject", "")
        lines = lines_of(doc.elements)
        runs: list[tuple[bool, list[Line]]] = []
        for line, quoted in zip(lines, quoted_flags(lines), strict=True):
            if runs and runs[-1][0] == quoted:
                runs[-1][1].append(line)
            else:
                runs.append((quoted, [line]))
        drafts: list[ChunkDraft] = []
        for quoted, run in runs:
            pieces = [piece(text, ln.start, ln.end, ln) for ln in run]
            chunks = general_split(text, pieces, self.chunk_size, self.overlap)
            drafts += decorate(chunks, subject, **head, part="quoted" if quoted else "message")
        return drafts
