"""UrlFetcher and url_safety against loopback HTTP servers the tests start; nothing here reaches the internet.

An autouse fixture wraps `socket.create_connection` (what httpcore connects with) and `socket.getaddrinfo`: a
connection to anything but loopback, or a real DNS lookup of a name other than localhost, fails the test. A few
made-up "public" addresses are served by a loopback stand-in, so a test sees which address the fetcher connected to.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.adapters.url_fetcher import DEFAULT_CONTENT_TYPES, UrlFetcher
from app.adapters.url_safety import address_problem, normalise_host, parse_ipv4, url_label
from app.core.errors import RejectedFileError

PUBLIC_IP = "93.184.216.34"  # stands for an internet host; the `net` fixture serves it from loopback
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Net:
    connects: list[tuple[str, int]] = field(default_factory=list)
    stand_ins: dict[str, int] = field(default_factory=dict)  # public IP -> loopback port that answers for it


@pytest.fixture(autouse=True)
def net(monkeypatch: pytest.MonkeyPatch) -> Net:
    state, real = Net(), socket.create_connection

    def guarded(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        host, port = address[0], address[1]
        state.connects.append((host, port))
        if host in state.stand_ins:
            return real(("127.0.0.1", state.stand_ins[host]), *args, **kwargs)
        if not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"test tried to connect to {host}:{port}")
        return real(address, *args, **kwargs)

    def no_dns(host: str, *args: object, **kwargs: object) -> list[tuple]:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise AssertionError(f"test tried to resolve {host}") from None
        return real_dns(host, *args, **kwargs)

    real_dns = socket.getaddrinfo
    monkeypatch.setattr(socket, "create_connection", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    return state


Route = Callable[[BaseHTTPRequestHandler], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.seen.append((self.path, self.headers.get("Host", "")))
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            reply(404, b"not found")(self)
        else:
            route(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str]] = []
        self.release = threading.Event()  # lets slow handlers go at teardown

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (timeout, too_large) is expected here


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None, length: bool = True) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if length:
            h.send_header("Content-Length", str(len(body)))
        else:  # no length: the body ends when the connection closes
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        h.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return reply(status, b"", {"Location": location})


def _start() -> _Server:
    srv = _Server()
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    return srv


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def other_server() -> Iterator[_Server]:
    srv = _start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def fetcher(server: _Server, tmp_path: Path) -> UrlFetcher:
    return UrlFetcher(allow_hosts=frozenset({f"127.0.0.1:{server.port}"}), tmp_dir=tmp_path, timeout_s=5)


def refused(fetcher: UrlFetcher, url: str, code: str) -> RejectedFileError:
    with pytest.raises(RejectedFileError) as info:
        fetcher.fetch(url)
    assert info.value.code == code, info.value.reason
    return info.value


class TestConstruction:
    def test_defaults(self) -> None:
        f = UrlFetcher()
        assert (f.max_bytes, f.timeout_s, f.max_redirects) == (50 * 1024 * 1024, 20.0, 5)
        assert f.allowed_content_types == DEFAULT_CONTENT_TYPES and "application/pdf" in DEFAULT_CONTENT_TYPES
        assert not f.allow_private and f.allow_hosts == frozenset()

    def test_allow_hosts_are_normalised(self) -> None:
        f = UrlFetcher(allow_hosts=frozenset({"Intranet.Example.", "[::0001]:8080", "127.0.0.1:80", "::1"}))
        assert f.allow_hosts == {"intranet.example", "[::1]:8080", "127.0.0.1:80", "::1"}

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"allowed_content_types": frozenset({"image/png"})},
            {"allowed_content_types": frozenset()},
            {"max_bytes": 0},
            {"timeout_s": 0},
            {"max_redirects": -1},
        ],
    )
    def test_invalid(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(ValueError):
            UrlFetcher(**kwargs)  # type: ignore[arg-type]


class TestFetch:
    def test_html(self, server: _Server, fetcher: UrlFetcher) -> None:
        body = b"<html><body><h1>Handbook</h1></body></html>"
        server.routes["/docs/handbook"] = reply(200, body, {"Content-Type": "text/html; charset=utf-8"})
        fetched = fetcher.fetch(server.url("/docs/handbook?v=2#top"))
        assert (fetched.filename, fetched.content_type, fetched.size) == ("handbook.html", "text/html", len(body))
        assert fetched.path.name == "handbook.html" and fetched.path.read_bytes() == body
        assert fetched.final_url == server.url("/docs/handbook?v=2") and fetched.url.endswith("#top")
        assert server.seen == [("/docs/handbook?v=2", f"127.0.0.1:{server.port}")]
        fetched.cleanup()
        assert not fetched.path.parent.exists()

    def test_pdf_named_by_content_disposition(self, server: _Server, fetcher: UrlFetcher) -> None:
        headers = {"Content-Type": "application/pdf", "Content-Disposition": 'attachment; filename="../../Q3 <b>.pdf"'}
        server.routes["/download"] = reply(200, PDF, headers)
        fetched = fetcher.fetch(server.url("/download"))
        assert fetched.filename == "Q3 _b_.pdf" and fetched.content_type == "application/pdf"
        assert fetched.path.read_bytes() == PDF

    def test_rfc2231_filename(self, server: _Server, fetcher: UrlFetcher) -> None:
        headers = {
            "Content-Type": "text/plain",
            "Content-Disposition": "attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A.txt",
        }
        server.routes["/d"] = reply(200, "你好".encode(), headers)
        assert fetcher.fetch(server.url("/d")).filename == "报告.txt"

    @pytest.mark.parametrize(
        ("path", "ctype", "filename"),
        [
            ("/notes.md", "text/plain", "notes.md"),  # text/plain keeps a text extension it can carry
            ("/notes.txt", "text/plain; charset=utf-8", "notes.txt"),
            ("/data.csv", "text/csv", "data.csv"),
            ("/index.php", "text/html", "index.php.html"),
            ("/report.pdf", "text/html", "report.html"),  # a supported but wrong extension is replaced
            ("/", "text/markdown", "download.md"),
            ("/mail", "message/rfc822", "mail.eml"),
        ],
    )
    def test_extension_follows_content_type(
        self, server: _Server, fetcher: UrlFetcher, path: str, ctype: str, filename: str
    ) -> None:
        server.routes[path] = reply(200, b"hello, world", {"Content-Type": ctype})
        assert fetcher.fetch(server.url(path)).filename == filename

    def test_octet_stream_is_sniffed_by_extension(self, server: _Server, fetcher: UrlFetcher) -> None:
        server.routes["/files/paper.pdf"] = reply(200, PDF, {"Content-Type": "application/octet-stream"})
        fetched = fetcher.fetch(server.url("/files/paper.pdf"))
        assert (fetched.filename, fetched.content_type) == ("paper.pdf", "application/pdf")

    def test_octet_stream_must_match_its_extension(self, server: _Server, fetcher: UrlFetcher, tmp_path: Path) -> None:
        server.routes["/fake.pdf"] = reply(200, PNG, {"Content-Type": "application/octet-stream"})
        assert "PNG" in refused(fetcher, server.url("/fake.pdf"), "type_mismatch").reason
        assert list(tmp_path.iterdir()) == []  # the temp folder went with the error

    def test_gzip_body_is_decoded(self, server: _Server, fetcher: UrlFetcher) -> None:
        body = b"plain text " * 100
        headers = {"Content-Type": "text/plain", "Content-Encoding": "gzip"}
        server.routes["/z.txt"] = reply(200, gzip.compress(body), headers)
        fetched = fetcher.fetch(server.url("/z.txt"))
        assert fetched.path.read_bytes() == body and fetched.size == len(body)

    def test_relative_redirects_are_followed(self, server: _Server, fetcher: UrlFetcher) -> None:
        server.routes["/a"] = redirect("/b?x=1")
        server.routes["/b"] = redirect("c.txt", 301)
        server.routes["/c.txt"] = reply(200, b"arrived", {"Content-Type": "text/plain"})
        fetched = fetcher.fetch(server.url("/a"))
        assert fetched.final_url == server.url("/c.txt") and fetched.path.read_bytes() == b"arrived"
        assert [p for p, _ in server.seen] == ["/a", "/b?x=1", "/c.txt"]

    def test_allow_private_fetches_loopback(self, server: _Server, tmp_path: Path) -> None:
        server.routes["/t.txt"] = reply(200, b"ok", {"Content-Type": "text/plain"})
        assert UrlFetcher(allow_private=True, tmp_dir=tmp_path).fetch(server.url("/t.txt")).size == 2


class TestRefusals:
    @pytest.mark.parametrize(
        ("status", "permanent"), [(404, True), (403, True), (429, False), (503, False), (500, False)]
    )
    def test_http_error(self, server: _Server, fetcher: UrlFetcher, status: int, permanent: bool) -> None:
        server.routes["/x"] = reply(status, b"nope")
        err = refused(fetcher, server.url("/x"), "http_error")
        assert f"HTTP {status}" in err.reason and err.permanent is permanent

    def test_redirect_without_location_is_an_error(self, server: _Server, fetcher: UrlFetcher) -> None:
        server.routes["/r"] = reply(302, b"")
        refused(fetcher, server.url("/r"), "http_error")

    @pytest.mark.parametrize("ctype", ["image/png", "application/json", "text/javascript", ""])
    def test_wrong_content_type(self, server: _Server, fetcher: UrlFetcher, ctype: str) -> None:
        server.routes["/thing"] = reply(200, PNG, {"Content-Type": ctype} if ctype else {})
        err = refused(fetcher, server.url("/thing"), "unsupported_type")
        assert "application/pdf" in err.reason

    def test_octet_stream_without_a_supported_extension(self, server: _Server, fetcher: UrlFetcher) -> None:
        server.routes["/setup.exe"] = reply(200, b"MZ" * 50, {"Content-Type": "application/octet-stream"})
        refused(fetcher, server.url("/setup.exe"), "unsupported_type")

    def test_restricted_content_types(self, server: _Server, tmp_path: Path) -> None:
        f = UrlFetcher(allowed_content_types=frozenset({"application/pdf"}), allow_private=True, tmp_dir=tmp_path)
        server.routes["/p.html"] = reply(200, b"<p>x</p>", {"Content-Type": "text/html"})
        server.routes["/p.txt"] = reply(200, b"x", {"Content-Type": "application/octet-stream"})
        refused(f, server.url("/p.html"), "unsupported_type")
        refused(f, server.url("/p.txt"), "unsupported_type")  # no sniffing into a type that is not allowed

    def test_markup_from_the_server_is_not_echoed(self, server: _Server, fetcher: UrlFetcher) -> None:
        server.routes["/m"] = reply(200, b"x", {"Content-Type": "text/<script>alert(1)</script>"})
        err = refused(fetcher, server.url("/m"), "unsupported_type")
        assert "<" not in str(err) and "malformed" in err.reason

    def test_markup_in_the_url_is_escaped(self, server: _Server, fetcher: UrlFetcher) -> None:
        err = refused(fetcher, server.url('/"><script>alert(1)</script>'), "http_error")
        assert "<" not in str(err) and '"' not in str(err) and "%3Cscript%3E" in err.filename

    def test_empty_body(self, server: _Server, fetcher: UrlFetcher) -> None:
        server.routes["/e.txt"] = reply(200, b"", {"Content-Type": "text/plain"})
        refused(fetcher, server.url("/e.txt"), "empty")

    def test_unsupported_content_encoding(self, server: _Server, fetcher: UrlFetcher) -> None:
        server.routes["/br"] = reply(200, b"\x1b\x00", {"Content-Type": "text/plain", "Content-Encoding": "br"})
        refused(fetcher, server.url("/br"), "unsupported_type")


class TestLimits:
    def test_declared_length_over_the_limit(self, server: _Server, tmp_path: Path) -> None:
        f = UrlFetcher(max_bytes=1000, allow_private=True, tmp_dir=tmp_path)
        server.routes["/big.txt"] = reply(200, b"a" * 2000, {"Content-Type": "text/plain"})
        refused(f, server.url("/big.txt"), "too_large")

    def test_streamed_body_over_the_limit(self, server: _Server, tmp_path: Path) -> None:
        f = UrlFetcher(max_bytes=1000, allow_private=True, tmp_dir=tmp_path)
        server.routes["/big.txt"] = reply(200, b"a" * 200_000, {"Content-Type": "text/plain"}, length=False)
        refused(f, server.url("/big.txt"), "too_large")
        assert list(tmp_path.iterdir()) == []

    def test_body_at_the_limit(self, server: _Server, tmp_path: Path) -> None:
        f = UrlFetcher(max_bytes=1000, allow_private=True, tmp_dir=tmp_path)
        server.routes["/ok.txt"] = reply(200, b"a" * 1000, {"Content-Type": "text/plain"}, length=False)
        assert f.fetch(server.url("/ok.txt")).size == 1000

    def test_gzip_bomb(self, server: _Server, tmp_path: Path) -> None:
        f = UrlFetcher(max_bytes=1024 * 1024, allow_private=True, tmp_dir=tmp_path)
        bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
        assert len(bomb) < 1024 * 1024
        server.routes["/bomb.txt"] = reply(200, bomb, {"Content-Type": "text/plain", "Content-Encoding": "gzip"})
        refused(f, server.url("/bomb.txt"), "too_large")

    def test_slow_server_times_out(self, server: _Server, tmp_path: Path) -> None:
        def stall(h: BaseHTTPRequestHandler) -> None:
            server.release.wait(10)

        server.routes["/slow"] = stall
        f = UrlFetcher(timeout_s=0.5, allow_private=True, tmp_dir=tmp_path)
        start = time.monotonic()
        err = refused(f, server.url("/slow"), "timeout")
        assert time.monotonic() - start < 2 and err.permanent is False

    def test_trickling_body_cannot_outlast_the_deadline(self, server: _Server, tmp_path: Path) -> None:
        def trickle(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            for _ in range(1000):  # every read succeeds quickly; only the total time gives it away
                if server.release.wait(0.05):
                    return
                h.wfile.write(b"x")
                h.wfile.flush()

        server.routes["/drip"] = trickle
        f = UrlFetcher(timeout_s=0.6, allow_private=True, tmp_dir=tmp_path)
        start = time.monotonic()
        refused(f, server.url("/drip"), "timeout")
        assert time.monotonic() - start < 1.5

    def test_too_many_redirects(self, server: _Server, tmp_path: Path) -> None:
        server.routes["/loop"] = redirect("/loop")
        f = UrlFetcher(max_redirects=3, allow_private=True, tmp_dir=tmp_path)
        refused(f, server.url("/loop"), "too_many_redirects")
        assert len(server.seen) == 4

    def test_no_redirects_allowed(self, server: _Server, tmp_path: Path) -> None:
        server.routes["/r"] = redirect("/t")
        refused(
            UrlFetcher(max_redirects=0, allow_private=True, tmp_dir=tmp_path), server.url("/r"), "too_many_redirects"
        )


class TestSsrf:
    def test_loopback_refused_without_an_allowance(self, server: _Server, net: Net, tmp_path: Path) -> None:
        server.routes["/t.txt"] = reply(200, b"ok", {"Content-Type": "text/plain"})
        err = refused(UrlFetcher(tmp_dir=tmp_path), server.url("/t.txt"), "ssrf_blocked")
        assert "loopback" in err.reason and err.permanent
        assert server.seen == [] and net.connects == []

    def test_allowance_is_per_port(self, server: _Server, other_server: _Server, fetcher: UrlFetcher) -> None:
        other_server.routes["/secret"] = reply(200, b"secret", {"Content-Type": "text/plain"})
        server.routes["/go"] = redirect(other_server.url("/secret"))
        refused(fetcher, server.url("/go"), "ssrf_blocked")
        assert other_server.seen == []

    @pytest.mark.parametrize(
        "location",
        [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://10.0.0.1/",
            "http://localhost:{port}/t.txt",  # resolves to loopback, and only 127.0.0.1:<port> is allowed
            "http://0x7f.1/t.txt",  # 127.0.0.1, but port 80
        ],
    )
    def test_redirect_to_a_private_address_is_refused_at_the_hop(
        self, server: _Server, fetcher: UrlFetcher, net: Net, location: str
    ) -> None:
        server.routes["/go"] = redirect(location.format(port=server.port))
        server.routes["/t.txt"] = reply(200, b"ok", {"Content-Type": "text/plain"})
        refused(fetcher, server.url("/go"), "ssrf_blocked")
        assert [p for p, _ in server.seen] == ["/go"] and len(net.connects) == 1

    @pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://127.0.0.1/"])
    def test_redirect_to_another_scheme(self, server: _Server, fetcher: UrlFetcher, location: str) -> None:
        server.routes["/go"] = redirect(location)
        refused(fetcher, server.url("/go"), "bad_url")

    def test_metadata_stays_refused_with_allow_private(self, server: _Server, net: Net, tmp_path: Path) -> None:
        server.routes["/go"] = redirect("http://169.254.169.254/latest/meta-data/")
        f = UrlFetcher(allow_private=True, tmp_dir=tmp_path)
        assert "metadata" in refused(f, server.url("/go"), "ssrf_blocked").reason
        refused(f, "http://metadata.google.internal/", "ssrf_blocked")
        refused(f, "http://[::ffff:169.254.169.254]/", "ssrf_blocked")
        refused(f, "http://[64:ff9b::a9fe:a9fe]/", "ssrf_blocked")  # NAT64
        assert len(net.connects) == 1

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://127.0.0.1./",
            "http://0/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
            "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[ff02::1]/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://169.254.169.254/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://198.18.0.1/",
            "http://localhost/",
            "https://LOCALHOST:8443/",
            "http://metadata.google.internal/",
            "http://metadata/",
        ],
    )
    def test_private_and_encoded_addresses(self, net: Net, tmp_path: Path, url: str) -> None:
        refused(UrlFetcher(tmp_dir=tmp_path), url, "ssrf_blocked")
        assert net.connects == []

    @pytest.mark.parametrize(
        "url",
        [
            "file:///etc/passwd",
            "gopher://127.0.0.1:70/_GET",
            "ftp://example.com/file.txt",
            "javascript:alert(1)",
            "data:text/plain,hello",
            "dict://127.0.0.1:11211/",
            "//example.com/x",
            "example.com/x",
            "http:///path",
            "http://exa mple.com/",
            "http://example.com\\@127.0.0.1/",
            "http://example.com/\r\nX-Injected: 1",
            "http://[::1%25eth0]/",
            "http://1.2.3.256/",
            "http://0x100000000/",
            "http://08.0.0.1/",
            "http://example.123/",
            "http://exa<mple.com/",
            "http://example.com:0/",
            "http://example.com:99999/",
            "http://" + "a" * 3000 + ".com/",
        ],
    )
    def test_bad_urls(self, net: Net, tmp_path: Path, url: str) -> None:
        err = refused(UrlFetcher(tmp_dir=tmp_path), url, "bad_url")
        assert "<" not in str(err) and "\n" not in str(err) and len(err.filename) <= 200
        assert net.connects == []

    @pytest.mark.parametrize("userinfo", ["user:s3cret@", "user@", ":s3cret@"])
    def test_credentials_in_the_url(self, server: _Server, fetcher: UrlFetcher, userinfo: str) -> None:
        err = refused(fetcher, f"http://{userinfo}127.0.0.1:{server.port}/", "bad_url")
        assert "credentials" in err.reason and "s3cret" not in str(err) and server.seen == []

    def test_dns_rebinding_connects_to_the_vetted_address(
        self, server: _Server, net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        lookups = fake_dns(monkeypatch, {"rebind.test": [PUBLIC_IP, "127.0.0.1"]})
        net.stand_ins[PUBLIC_IP] = server.port
        server.routes["/doc.txt"] = reply(200, b"public content", {"Content-Type": "text/plain"})
        fetched = UrlFetcher(tmp_dir=tmp_path).fetch(f"http://rebind.test:{server.port}/doc.txt")
        assert fetched.path.read_bytes() == b"public content"
        assert lookups == ["rebind.test"]  # resolved once: no second answer could be used
        assert net.connects == [(PUBLIC_IP, server.port)]
        assert server.seen == [("/doc.txt", f"rebind.test:{server.port}")]  # the original Host header

    def test_any_private_answer_refuses_the_host(
        self, net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake_dns(monkeypatch, {"mixed.test": [[PUBLIC_IP, "10.0.0.7"]]})
        assert "private" in refused(UrlFetcher(tmp_dir=tmp_path), "http://mixed.test/", "ssrf_blocked").reason
        assert net.connects == []

    def test_allowed_host_name_is_pinned_too(
        self, server: _Server, net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        lookups = fake_dns(monkeypatch, {"intranet.test": ["127.0.0.1", "10.9.9.9"]})
        server.routes["/x.md"] = reply(200, b"# intranet", {"Content-Type": "text/markdown"})
        f = UrlFetcher(allow_hosts=frozenset({"intranet.test"}), tmp_dir=tmp_path)
        assert f.fetch(f"http://intranet.test:{server.port}/x.md").filename == "x.md"
        assert lookups == ["intranet.test"] and net.connects == [("127.0.0.1", server.port)]

    @pytest.mark.parametrize(
        ("errno", "code", "permanent"), [(socket.EAI_NONAME, "dns_error", True), (socket.EAI_AGAIN, "dns_error", False)]
    )
    def test_dns_failure(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno: int, code: str, permanent: bool
    ) -> None:
        def fail(*args: object, **kwargs: object) -> list[object]:
            raise socket.gaierror(errno, "lookup failed")

        monkeypatch.setattr(socket, "getaddrinfo", fail)
        assert refused(UrlFetcher(tmp_dir=tmp_path), "http://nowhere.test/", code).permanent is permanent

    def test_slow_dns_times_out(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        def slow(*args: object, **kwargs: object) -> list[object]:
            time.sleep(1)
            return []

        monkeypatch.setattr(socket, "getaddrinfo", slow)
        start = time.monotonic()
        refused(UrlFetcher(timeout_s=0.2, tmp_dir=tmp_path), "http://slow.test/", "timeout")
        assert time.monotonic() - start < 0.9


class TestHttps:
    """TLS goes to the pinned address yet is verified against the URL's host name (SNI and certificate)."""

    def test_certificate_is_checked_against_the_host_name(
        self, net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cert, key = self_signed(tmp_path, "docs.test")
        sni: list[str | None] = []
        with tls_server(cert, key, sni) as srv:
            srv.routes["/a.txt"] = reply(200, b"secure", {"Content-Type": "text/plain"})
            fake_dns(monkeypatch, {"docs.test": [PUBLIC_IP], "evil.test": [PUBLIC_IP]})
            net.stand_ins[PUBLIC_IP] = srv.port
            ctx = ssl.create_default_context(cafile=str(cert))
            f = UrlFetcher(tmp_dir=tmp_path, ssl_context=ctx)
            assert f.fetch(f"https://docs.test:{srv.port}/a.txt").path.read_bytes() == b"secure"
            assert sni == ["docs.test"] and srv.seen[0][1] == f"docs.test:{srv.port}"
            err = refused(f, f"https://evil.test:{srv.port}/a.txt", "http_error")
            assert "certificate" in err.reason.lower()


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list]) -> list[str]:
    """getaddrinfo that answers the given names: the n-th lookup gets the n-th answer (a list answers several)."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        answer = answers[host][min(lookups.count(host), len(answers[host])) - 1]
        ips = answer if isinstance(answer, list) else [answer]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509", reason="the HTTPS test needs cryptography for a test certificate")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key_path.write_bytes(pem)
    return cert_path, key_path


class tls_server:  # noqa: N801 (used as a context manager, like a function)
    def __init__(self, cert: Path, key: Path, sni: list[str | None]) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.sni_callback = lambda sock, name, c: sni.append(name)
        self.srv = _Server()
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)

    def __enter__(self) -> _Server:
        threading.Thread(target=self.srv.serve_forever, args=(0.05,), daemon=True).start()
        return self.srv

    def __exit__(self, *exc: object) -> None:
        self.srv.shutdown()
        self.srv.server_close()


class TestUrlSafety:
    @pytest.mark.parametrize(
        ("host", "ip"),
        [
            ("2130706433", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("017700000001", "127.0.0.1"),
            ("0x7F.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("10.1.258", "10.1.1.2"),
            ("0", "0.0.0.0"),
            ("8.8.8.8.", "8.8.8.8"),
        ],
    )
    def test_parse_ipv4_legacy_forms(self, host: str, ip: str) -> None:
        assert parse_ipv4(host) == ipaddress.IPv4Address(ip)

    @pytest.mark.parametrize("host", ["example.com", "1.2.3.example", "xn--bcher-kva.de", "0x7f.example"])
    def test_host_names_are_not_ips(self, host: str) -> None:
        assert parse_ipv4(host) is None

    @pytest.mark.parametrize("host", ["1.2.3.256", "256.1.1.1", "1.2.3.4.5", "09", "a.0x", "example.123", "1..2"])
    def test_malformed_numeric_hosts(self, host: str) -> None:
        with pytest.raises(ValueError):
            parse_ipv4(host)

    @pytest.mark.parametrize(
        "ip",
        ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"],
    )
    def test_public_addresses_pass(self, ip: str) -> None:
        assert address_problem(ipaddress.ip_address(ip)) is None

    @pytest.mark.parametrize(
        ("ip", "what"),
        [
            ("127.0.0.1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("169.254.169.254", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("100.64.0.1", "private"),
            ("192.0.0.192", "metadata"),
            ("2002:a00:1::", "private"),
            ("0.0.0.0", "unspecified"),
            ("239.1.1.1", "multicast"),
            ("240.0.0.1", "reserved"),
        ],
    )
    def test_non_public_addresses(self, ip: str, what: str) -> None:
        assert what in (address_problem(ipaddress.ip_address(ip)) or "")

    def test_url_label(self) -> None:
        label = url_label('https://u:pw@example.com/a b"<x>?q=1&r=2')
        assert label == "https://example.com/a%20b%22%3Cx%3E?q=1%26r=2"
        assert len(url_label("http://example.com/" + "a" * 500)) == 200

    def test_normalise_host(self) -> None:
        assert normalise_host("Bücher.DE") == "xn--bcher-kva.de"
        assert normalise_host("[0:0::1]") == "::1" and normalise_host("LOCALHOST:8080") == "localhost:8080"
