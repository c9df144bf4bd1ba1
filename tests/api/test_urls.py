"""URL ingestion over HTTP: fetched pages become documents; private addresses are refused (only loopback servers
that this test starts are used)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from tests.api.test_api import wait_job
from tests.conftest import make_services, make_settings

PAGE = b"<html><head><title>Parking</title></head><body><p>Visitors park on level two of the garage.</p></body></html>"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/redirect-to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def client_for(tmp_path: Path, **urls: object) -> TestClient:
    svc = make_services(make_settings(tmp_path, urls=urls))
    return TestClient(create_app(svc.settings, services=svc))


def test_fetched_page_is_ingested_with_its_source(tmp_path: Path, site: str) -> None:
    with client_for(tmp_path, allow_hosts=["127.0.0.1"]) as client:
        client.post("/v1/collections", json={"name": "web"})
        r = client.post("/v1/collections/web/urls", json={"urls": [f"{site}/docs/parking.html"]})
        assert r.status_code == 202, r.text
        assert wait_job(client, r.json()["job_id"])["status"] == "succeeded"
        [doc] = client.get("/v1/collections/web/documents").json()["documents"]
        assert doc["filename"] == "127.0.0.1_docs_parking.html"
        assert doc["metadata"]["source_uri"] == f"{site}/docs/parking.html"
        hits = client.post("/v1/retrieve", json={"query": "where do visitors park", "collection": "web"}).json()
        assert "level two" in hits["chunks"][0]["text"]


def test_private_and_metadata_addresses_are_refused(tmp_path: Path, site: str) -> None:
    with client_for(tmp_path) as client:
        client.post("/v1/collections", json={"name": "web"})
        r = client.post("/v1/collections/web/urls", json={"urls": [f"{site}/a.html", "file:///etc/passwd"]})
        assert r.status_code == 422
        codes = {x["code"] for x in r.json()["rejected"]}
        assert codes == {"ssrf_blocked", "bad_url"}
        assert "<" not in r.text
    with client_for(tmp_path / "b", allow_hosts=["127.0.0.1"]) as client:
        client.post("/v1/collections", json={"name": "web"})
        ok, bad = f"{site}/fine.html", f"{site}/redirect-to-metadata"
        r = client.post("/v1/collections/web/urls", json={"urls": [ok, bad]})
        assert r.status_code == 202
        [rejected] = r.json()["rejected"]
        assert rejected["code"] == "ssrf_blocked"
        job = wait_job(client, r.json()["job_id"])
        assert job["status"] == "partial"
        assert client.post("/v1/collections/web/urls", json={"urls": []}).status_code == 422
