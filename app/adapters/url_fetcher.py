"""Fetch one URL for ingestion without letting the service be used to reach what it must not (SSRF).

Every hop is parsed strictly, resolved once, and vetted (every address it resolves to must be public); the connection
then goes to the vetted address itself. The HTTP stack never resolves the host again, so a DNS answer that changes
between check and connect (DNS rebinding) cannot move the connection. Redirects are followed here, hop by hop.

`allow_private` and `allow_hosts` exist for tests, which fetch from loopback servers they start, and for on-premises
deployments that knowingly index intranet servers. Leave both unset on any deployment that takes URLs from users
who must not reach its network. Cloud metadata hosts and addresses stay refused even then.
"""

from __future__ import annotations

import email.message
import logging
import re
import shutil
import ssl
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin

import httpcore

from app.adapters.file_checks import PRECHECK_HEAD_BYTES, SUPPORTED_EXTENSIONS, extension, precheck
from app.adapters.url_safety import (
    IPAddress,
    PinnedBackend,
    Target,
    is_allowed,
    normalise_host,
    parse_url,
    resolve,
    time_left,
    url_label,
    vet,
)
from app.core.errors import RejectedFileError

logger = logging.getLogger(__name__)

_OOXML = "application/vnd.openxmlformats-officedocument."
# Content type -> the extensions the ingest pipeline parses it under; the first is given to a name without one.
CONTENT_TYPE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "text/html": (".html", ".htm"),
    "text/plain": (".txt", ".text", ".md", ".markdown", ".csv"),  # servers often send Markdown and CSV as text/plain
    "text/markdown": (".md", ".markdown"),
    "text/csv": (".csv",),
    "application/pdf": (".pdf",),
    _OOXML + "wordprocessingml.document": (".docx",),
    _OOXML + "presentationml.presentation": (".pptx",),
    _OOXML + "spreadsheetml.sheet": (".xlsx",),
    "message/rfc822": (".eml",),
}
DEFAULT_CONTENT_TYPES = frozenset(CONTENT_TYPE_EXTENSIONS)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SNIFFED = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_UNSAFE_NAME = re.compile(r"[^\w.\- ()]+")


@dataclass(frozen=True)
class FetchedFile:
    """A fetched body on disk, under a name whose extension tells the ingest pipeline how to parse it.

    `path` is ``<a fresh temp folder>/<filename>``: the caller owns it and calls `cleanup()` when done.
    """

    url: str  # as asked for
    final_url: str  # after redirects, normalised
    filename: str
    content_type: str
    path: Path
    size: int

    def cleanup(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


class UrlFetcher:
    """Download one http(s) URL into a temp file, refusing what would make the service an SSRF proxy.

    Usage:
        fetched = UrlFetcher(max_bytes=20 * 1024 * 1024).fetch("https://example.com/handbook.pdf")
        try:
            ingest(fetched.path, fetched.filename)
        finally:
            fetched.cleanup()
    """

    def __init__(
        self,
        max_bytes: int = 50 * 1024 * 1024,
        timeout_s: float = 20.0,
        max_redirects: int = 5,
        allowed_content_types: frozenset[str] = DEFAULT_CONTENT_TYPES,
        allow_private: bool = False,
        allow_hosts: frozenset[str] = frozenset(),
        user_agent: str = "grounded-fetcher/1.0",
        tmp_dir: str | Path | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Validate the configuration; no I/O.

        Args:
            max_bytes: bodies above this (after decompression) are refused, ``too_large``.
            timeout_s: wall-clock limit of the whole fetch: DNS, every hop and the body.
            max_redirects: redirects followed before ``too_many_redirects``; 0 follows none.
            allowed_content_types: a subset of `CONTENT_TYPE_EXTENSIONS`.
            allow_private: fetch from any non-public address except cloud metadata (tests, intranet deployments).
            allow_hosts: host names or IPs, optionally with ``:port`` (``[::1]:8080``), fetched whatever they
                resolve to (tests, intranet deployments).
            user_agent: sent with every request.
            tmp_dir: where the temp folders go; default the system's.
            ssl_context: to trust a private CA; default the system's trust store.

        Raises:
            ValueError: an unknown content type or a limit out of range.
        """
        unknown = set(allowed_content_types) - set(CONTENT_TYPE_EXTENSIONS)
        if unknown or not allowed_content_types:
            raise ValueError(
                f"allowed_content_types {sorted(unknown)} unknown or empty; valid: {sorted(DEFAULT_CONTENT_TYPES)}"
            )
        if max_bytes < 1 or timeout_s <= 0 or max_redirects < 0:
            raise ValueError("max_bytes must be >= 1, timeout_s > 0 and max_redirects >= 0")
        self.max_bytes, self.timeout_s, self.max_redirects = max_bytes, timeout_s, max_redirects
        self.allowed_content_types = frozenset(allowed_content_types)
        self.allow_private = allow_private
        self.allow_hosts = frozenset(normalise_host(h) for h in allow_hosts)
        self.user_agent, self.tmp_dir = user_agent, tmp_dir
        self._ssl = ssl_context or ssl.create_default_context()
        # Reverse order, so that a specific type (text/markdown for .md) overwrites text/plain.
        self._by_extension = {
            ext: ctype
            for ctype in sorted(self.allowed_content_types, reverse=True)
            for ext in CONTENT_TYPE_EXTENSIONS[ctype]
            if ext in SUPPORTED_EXTENSIONS
        }

    def fetch(self, url: str) -> FetchedFile:
        """Download `url`, following at most `max_redirects` redirects, each vetted like the first URL.

        Returns:
            The body in a temp file; the caller calls `FetchedFile.cleanup()`.

        Raises:
            RejectedFileError: ``bad_url``, ``ssrf_blocked``, ``dns_error``, ``timeout``, ``http_error``,
                ``too_many_redirects``, ``unsupported_type``, ``too_large``, ``empty``; for a body sent as
                application/octet-stream also those of `file_checks.precheck`. Timeouts, connection failures,
                429 and 5xx are transient (``permanent=False``). No reason repeats the URL; `filename` holds it
                escaped, without credentials.
        """
        label = url_label(url)
        deadline = time.monotonic() + self.timeout_s
        current = url.strip()
        for _ in range(self.max_redirects + 1):
            target = parse_url(current, label)
            addresses = [target.ip] if target.ip else resolve(target.host, target.port, time_left(deadline), label)
            address = vet(target, addresses, label, self.allow_private or is_allowed(target, self.allow_hosts))
            with self._get(target, address, deadline, label) as response:
                if response.status in _REDIRECTS and (location := _header(response, b"location").strip()):
                    current = urljoin(target.url, location)
                    logger.info("url fetch redirected", extra={"host": target.host, "status": response.status})
                    continue
                if not 200 <= response.status < 300:
                    transient = response.status == 429 or response.status >= 500
                    reason = f"the server at {target.host} answered HTTP {response.status}"
                    raise RejectedFileError(label, reason, code="http_error", permanent=not transient)
                return self._save(url, target, response, label)
        raise RejectedFileError(label, f"more than {self.max_redirects} redirects", code="too_many_redirects")

    @contextmanager
    def _get(self, target: Target, address: IPAddress, deadline: float, label: str) -> Iterator[httpcore.Response]:
        url = httpcore.URL(
            scheme=target.scheme.encode(), host=target.host.encode(), port=target.port, target=target.target.encode()
        )
        accept = ", ".join(sorted(self.allowed_content_types)) + ", application/octet-stream;q=0.5"
        headers = [
            (b"Host", target.authority.encode()),
            (b"User-Agent", self.user_agent.encode()),
            (b"Accept", accept.encode()),
            (b"Accept-Encoding", b"gzip, deflate"),
            (b"Connection", b"close"),
        ]
        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), max(time_left(deadline), 0.001))
        backend = PinnedBackend(target.host, address, deadline)
        pool = httpcore.ConnectionPool(ssl_context=self._ssl, network_backend=backend, max_connections=1, retries=0)
        try:
            with pool, pool.stream("GET", url, headers=headers, extensions={"timeout": timeouts}) as response:
                yield response
        except httpcore.TimeoutException as e:
            raise RejectedFileError(label, f"no complete answer within {self.timeout_s:g} s", "timeout", False) from e
        except httpcore.ConnectError as e:  # the message is local (errno, certificate check), never the server's
            reason = f"cannot connect to {target.host}: {str(e)[:200]}"
            raise RejectedFileError(label, reason, code="http_error", permanent=False) from e
        except (httpcore.NetworkError, httpcore.ProtocolError) as e:
            reason = f"the connection to {target.host} failed ({type(e).__name__})"
            raise RejectedFileError(label, reason, code="http_error", permanent=False) from e

    def _save(self, url: str, target: Target, response: httpcore.Response, label: str) -> FetchedFile:
        ctype = _header(response, b"content-type").split(";")[0].strip().lower()
        filename, ctype, sniff = self._name_and_type(target, response, ctype, label)
        length = _header(response, b"content-length").strip()
        if re.fullmatch(r"[0-9]+", length) and (len(length) > 18 or int(length) > self.max_bytes):
            reason = f"the declared body size is over the limit of {self.max_bytes} bytes"
            raise RejectedFileError(label, reason, code="too_large")
        decoder = _decoder(_header(response, b"content-encoding").strip().lower(), label)
        folder = Path(tempfile.mkdtemp(prefix="grounded-url-", dir=self.tmp_dir))
        path = folder / filename
        try:
            size = self._write(path, response, decoder, label)
            if size == 0:
                raise RejectedFileError(label, "the server sent an empty body", code="empty")
            if sniff:  # application/octet-stream: the bytes must match the extension the name claims
                with open(path, "rb") as f:
                    head = f.read(PRECHECK_HEAD_BYTES)
                try:
                    precheck(filename, head, size)
                except RejectedFileError as e:
                    raise RejectedFileError(label, e.reason, e.code) from e
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return FetchedFile(url, target.url, filename, ctype, path, size)

    def _name_and_type(
        self, target: Target, response: httpcore.Response, ctype: str, label: str
    ) -> tuple[str, str, bool]:
        name = _filename(_header(response, b"content-disposition"), target.target)
        if ctype in self.allowed_content_types:
            exts = CONTENT_TYPE_EXTENSIONS[ctype]
            if extension(name) not in exts:
                suffix = extension(name)
                name = (name[: -len(suffix)] if suffix in SUPPORTED_EXTENSIONS else name) + exts[0]
            return name, ctype, False
        if ctype in _SNIFFED and extension(name) in self._by_extension:
            return name, self._by_extension[extension(name)], True
        shown = f"content type {ctype}" if _MEDIA_TYPE.fullmatch(ctype) else "a missing or malformed content type"
        accepted = ", ".join(sorted(self.allowed_content_types))
        raise RejectedFileError(label, f"{shown} is not accepted; accepted: {accepted}", code="unsupported_type")

    def _write(self, path: Path, response: httpcore.Response, decoder: Any, label: str) -> int:
        size = 0
        with open(path, "wb") as f:
            for raw in response.iter_stream():
                try:  # max_length stops a decompression bomb from inflating past the limit in memory
                    chunk = decoder.decompress(raw, self.max_bytes + 1 - size) if decoder else raw
                except zlib.error as e:
                    raise RejectedFileError(label, "the compressed body is corrupt", code="http_error") from e
                size += len(chunk)
                if size > self.max_bytes:
                    raise RejectedFileError(label, f"body is over the limit of {self.max_bytes} bytes", "too_large")
                f.write(chunk)
        return size


def _header(response: httpcore.Response, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in response.headers if k.lower() == name), "")


def _decoder(encoding: str, label: str) -> Any:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # 32: accept a gzip or a zlib header
    raise RejectedFileError(label, "the body uses an unsupported Content-Encoding", code="unsupported_type")


def _filename(disposition: str, target: str) -> str:
    """A safe file name from Content-Disposition, else from the URL path; no folders, no markup characters."""
    name = ""
    if disposition:
        message = email.message.Message()
        message["content-disposition"] = disposition
        name = str(message.get_filename() or "")
    if not name:
        name = unquote(PurePosixPath(target.split("?")[0]).name)
    name = _UNSAFE_NAME.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    suffix = extension(name)
    if len(name) > 120:
        name = name[: 120 - len(suffix[:20])] + suffix[:20]
    return name or "download"
