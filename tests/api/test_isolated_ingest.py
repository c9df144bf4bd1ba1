"""The default parser path (a child process per parse) through the API: a file that parses too long fails with
`timeout` and the other files of the upload are indexed; the service keeps serving."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from tests.api.test_api import wait_job
from tests.conftest import make_services, make_settings

pytestmark = pytest.mark.slow


def test_slow_file_times_out_and_the_rest_is_indexed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ingest={"isolate_parser": True, "parse_timeout_s": 2.0})
    svc = make_services(settings)
    slow = b"a\n" * 400_000  # hundreds of thousands of one-letter paragraphs: many seconds of partitioning
    try:
        with TestClient(create_app(svc.settings, services=svc)) as client:
            client.post("/v1/collections", json={"name": "c"})
            files = [
                ("files", ("good.txt", io.BytesIO(b"The cafeteria opens at eight in the morning."))),
                ("files", ("slow.txt", io.BytesIO(slow))),
                ("files", ("also-good.md", io.BytesIO(b"# Parking\n\nVisitors park on level two."))),
            ]
            r = client.post("/v1/collections/c/documents", files=files)
            job = wait_job(client, r.json()["job_id"], timeout=120)
            by_name = {f["filename"]: f for f in job["files"]}
            assert job["status"] == "partial"
            assert by_name["slow.txt"]["code"] == "timeout" and "longer than 2 s" in by_name["slow.txt"]["reason"]
            assert by_name["good.txt"]["status"] == by_name["also-good.md"]["status"] == "succeeded"
            hits = client.post("/v1/retrieve", json={"query": "when does the cafeteria open", "collection": "c"})
            assert "eight" in hits.json()["chunks"][0]["text"]
    finally:
        svc.close()
