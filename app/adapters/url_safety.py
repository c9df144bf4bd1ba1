"""What makes a URL safe to fetch from the server side: strict parsing, address vetting, resolution with a deadline.

The fetcher (`app.adapters.url_fetcher`) calls these in order for every hop: `parse_url` (scheme, credentials,
numeric host forms), `resolve` (one DNS lookup, bounded in time), `vet` (every resolved address must be public
unicast). `PinnedBackend` then makes httpcore connect to the vetted address and to nothing else.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpcore

from app.core.errors import RejectedFileError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
# Refused even with allow_private / allow_hosts: no deployment needs to index its cloud credentials.
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.170.23", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)
# Python's is_global misses some of these depending on the patch release; listing them keeps the rule stable.
_NON_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4", "::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_METADATA = "a cloud metadata address"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Target:
    """One validated URL: an ASCII host (no brackets), a port, and the request target (path and query)."""

    scheme: str
    host: str
    port: int
    target: str
    ip: IPAddress | None  # set when the host is an IP literal, in any of its spellings

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"


def url_label(url: str, limit: int = 200) -> str:
    """`url` made safe to show in an error or a log: credentials removed, markup characters escaped, truncated."""
    try:
        parts = urlsplit(url.strip())
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    except ValueError:
        url = re.sub(r"//[^/]*@", "//", url)
    shown = quote(url, safe=":/?#[]!$()*+,;=%-._~@")
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def parse_url(url: str, label: str) -> Target:
    """Validate `url` for fetching; `label` names it in the error.

    Raises:
        RejectedFileError: ``bad_url``: not http(s), credentials, control characters, an unparseable host, a
            malformed numeric IP; ``ssrf_blocked``: a cloud metadata host name.
    """
    if len(url) > MAX_URL_CHARS:
        raise _bad(label, f"URL is longer than {MAX_URL_CHARS} characters")
    if any(c <= " " or c in "\x7f\\" for c in url):
        raise _bad(label, "URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise _bad(label, "malformed URL (host or port)") from e
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _bad(label, f"only http and https URLs can be fetched, not {scheme[:20] or 'a relative URL'}")
    if "@" in parts.netloc:
        raise _bad(label, "URLs with credentials (user:password@host) are refused")
    host = parts.hostname or ""
    if not host:
        raise _bad(label, "URL has no host")
    ip: IPAddress | None = None
    try:
        if parts.netloc.startswith("["):
            if "%" in host:
                raise ValueError("IPv6 zone identifiers are refused")
            ip = ipaddress.IPv6Address(host)
        else:
            host = host[:-1] if host.endswith(".") else host
            ip = parse_ipv4(host)
            if ip is None:
                host = host.encode("idna").decode("ascii").lower()
                if not _HOSTNAME.fullmatch(host):
                    raise ValueError("invalid characters in the host name")
    except (ValueError, UnicodeError) as e:
        raise _bad(label, "invalid host name or IP address") from e  # e's message may quote the host: not shown
    if port == 0:
        raise _bad(label, "port 0 is not a valid port")
    if host in METADATA_HOSTS:  # before any DNS lookup: the name alone is enough
        raise RejectedFileError(label, f"host {host} is a cloud metadata service", code="ssrf_blocked")
    target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_PATH_SAFE + "?")
    return Target(scheme, str(ip) if ip else host, port or DEFAULT_PORTS[scheme], target, ip)


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host spells the way inet_aton reads it (``2130706433``, ``0x7f.1``, ``0177.0.0.1``).

    Returns None for a host name. Like the WHATWG URL parser, a host whose last label is numeric must be a valid
    IPv4 address: ``ValueError`` otherwise.
    """
    labels = host.lower().split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    values = []
    for label in labels:
        if not _NUMERIC_LABEL.fullmatch(label):
            raise ValueError("malformed numeric IPv4 address")
        if label.startswith("0x"):
            values.append(int(label[2:] or "0", 16))
        else:
            values.append(int(label, 8 if len(label) > 1 and label.startswith("0") else 10))
    if len(values) > 4 or any(v > 255 for v in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise ValueError("numeric IPv4 address out of range")
    return ipaddress.IPv4Address(values[-1] + sum(v << (8 * (3 - i)) for i, v in enumerate(values[:-1])))


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` must not be fetched from, e.g. ``a loopback address``; None for a public unicast address."""
    if ip.version == 6:
        embedded = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:  # these forms reach exactly the embedded IPv4 address: judge that one
            return address_problem(embedded)
        if ip.sixtofour is not None and (problem := address_problem(ip.sixtofour)):
            return f"{problem} (6to4)"
    if ip in METADATA_ADDRESSES:
        return _METADATA
    for test, what in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private or any(ip in n for n in _NON_PUBLIC), "a private or reserved address"),
        (ip.is_reserved or not ip.is_global, "a reserved address"),
    ):
        if test:
            return what
    return None


def vet(target: Target, addresses: list[IPAddress], label: str, allowed: bool) -> IPAddress:
    """The address to connect to, once every address `target`'s host resolved to has passed.

    With `allowed` (an allow-listed host, or allow_private) only metadata addresses are refused.

    Raises:
        RejectedFileError: ``ssrf_blocked``.
    """
    for ip in addresses:
        problem = address_problem(ip)
        if problem and (not allowed or problem.startswith(_METADATA)):
            verb = "is" if target.ip is not None else "resolves to"
            reason = f"host {target.host} {verb} {problem}; only public addresses can be fetched"
            raise RejectedFileError(label, reason, code="ssrf_blocked")
    return addresses[0]


def resolve(host: str, port: int, timeout: float, label: str) -> list[IPAddress]:
    """Every address `host` resolves to, once, within `timeout` seconds (getaddrinfo itself has no timeout).

    Raises:
        RejectedFileError: ``dns_error`` (no such host; transient for a temporary failure) or ``timeout``.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="url-dns")
    try:
        infos = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(timeout=max(timeout, 0))
    except FutureTimeout as e:
        raise RejectedFileError(label, f"resolving host {host} timed out", code="timeout", permanent=False) from e
    except (OSError, UnicodeError) as e:
        transient = isinstance(e, socket.gaierror) and e.errno == socket.EAI_AGAIN
        raise RejectedFileError(label, f"host {host} cannot be resolved", "dns_error", permanent=not transient) from e
    finally:
        pool.shutdown(wait=False)
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    if not addresses:
        raise RejectedFileError(label, f"host {host} has no address", code="dns_error")
    return addresses


class _DeadlineStream(httpcore.NetworkStream):
    """Caps every read and write at the time left, so a server that trickles bytes cannot outlast the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner, self._deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout, self._deadline, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap(timeout, self._deadline, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, self._deadline, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to the one vetted address, whatever httpcore asks for: no second DNS lookup can happen."""

    def __init__(self, host: str, address: IPAddress, deadline: float) -> None:
        self._host, self._address, self._deadline = host, address, deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host != self._host:
            raise httpcore.ConnectError("refused: not the vetted host")
        address = getattr(self._address, "ipv4_mapped", None) or self._address  # ::ffff:a.b.c.d reaches a.b.c.d
        timeout = _cap(timeout, self._deadline, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise httpcore.ConnectError("refused: unix sockets are never fetched from")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def time_left(deadline: float) -> float:
    return deadline - time.monotonic()


def _cap(timeout: float | None, deadline: float, error: type[Exception]) -> float:
    left = time_left(deadline)
    if left <= 0:
        raise error("deadline passed")
    return left if timeout is None else min(timeout, left)


def normalise_host(entry: str) -> str:
    """``Example.COM.`` -> ``example.com``, ``[::0001]:80`` -> ``[::1]:80``: the forms `is_allowed` compares."""
    host, port = entry.strip().lower(), ""
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
    elif host.count(":") == 1:
        host, port = host.split(":")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = host.rstrip(".").encode("idna").decode("ascii")
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{int(port)}" if port else host


def is_allowed(target: Target, allow_hosts: frozenset[str]) -> bool:
    """True when `target`'s host, or its ``host:port``, is in `allow_hosts` (as `normalise_host` writes them)."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    return target.host in allow_hosts or f"{host}:{target.port}" in allow_hosts


def _bad(label: str, reason: str) -> RejectedFileError:
    return RejectedFileError(label, reason, code="bad_url")
