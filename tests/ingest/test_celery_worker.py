"""The scaled profile's workers for real: Celery worker processes on a real Redis broker, metadata in a real
PostgreSQL, the real MiniLM and the real Qdrant engine.

The headline test SIGKILLs a worker in the middle of a job and starts another one: the job must complete exactly
once — every file succeeded, every document's chunks present once, no stale or duplicate chunk, nothing left
"running". No Qdrant server can run on this machine (no binary, no Docker daemon), so the worker owns an embedded
qdrant-edge shard (one process per shard); the test opens that shard after the last worker has stopped.

Skipped, with the reason, when Redis or PostgreSQL cannot be reached.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.filters import Filter, eq
from app.knowledge import Upload
from tests.conftest import REPO, make_services, make_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REDIS_URL = os.environ.get("GROUNDED_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
TENANT = "default"
VISIBILITY_S = 12


def _redis_or_skip() -> None:
    import redis

    try:
        r = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        r.flushdb()  # a private database number: leftovers of an earlier run must not be delivered
    except redis.exceptions.RedisError as e:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {e}")


def _texts(n_files: int, sentences: int) -> dict[str, bytes]:
    """Distinct documents big enough that embedding one takes a moment (the kill lands mid-job)."""
    topics = ["leave", "travel", "security", "payroll", "onboarding", "equipment", "training", "privacy"]
    files = {}
    for f in range(n_files):
        topic = topics[f % len(topics)]
        body = " ".join(
            f"Rule {i} of the {topic} policy, version {f}: requests of type {i % 13} need approval by level "
            f"{i % 4} within {i % 9 + 1} working days."
            for i in range(sentences)
        )
        files[f"{topic}-{f}.txt"] = body.encode()
    return files


class Worker:
    """One `celery worker` OS process (solo pool: the task runs in this very process, so SIGKILL kills it)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-m", "celery", "-A", "ingest.celery_app", "worker", "-Q", "ingest", "-P", "solo"]
        cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the task, then exit
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def scaled(tmp_path: Path, pg_database: str) -> Iterator[dict]:
    _redis_or_skip()
    shared = {
        "GROUNDED_BROKER_URL": REDIS_URL,
        "GROUNDED_DATABASE_URL": pg_database,
        "GROUNDED_ORIGINALS_PATH": str(tmp_path / "originals"),
        "GROUNDED_BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
        "GROUNDED_TASK_TIME_LIMIT_S": "10",
        "GROUNDED_ENV": "test",
    }
    worker_env = {**os.environ, **shared, "GROUNDED_DATA_DIR": str(tmp_path / "worker")}
    # The API side: same database, broker and originals; its own (unused) embedded store, since the worker owns
    # the shard.
    settings = make_settings(
        tmp_path / "api",
        broker_url=REDIS_URL,
        database_url=pg_database,
        originals_path=tmp_path / "originals",
        broker_visibility_timeout_s=VISIBILITY_S,
        task_time_limit_s=10,
    )
    svc = make_services(settings)
    workers: list[Worker] = []
    try:
        yield {"svc": svc, "env": worker_env, "workers": workers, "tmp": tmp_path}
    finally:
        for w in workers:
            w.stop()
        svc.close()


def _wait(svc, job_id: str, until, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = svc.kb.get_job(TENANT, job_id)
        if until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"timed out; job is {svc.kb.get_job(TENANT, job_id)}")


def _stored_chunks(data_dir: Path, dim: int):
    from app.adapters.edge_store import EdgeChunkStore

    store = EdgeChunkStore(data_dir / "qdrant", dim, {"dense_use": 512})
    try:
        return store.list_chunks(Filter(must=[eq("tenant", TENANT)]), 100_000, 0)
    finally:
        store.close()


def test_worker_killed_mid_job_completes_exactly_once(scaled: dict) -> None:
    svc, env, workers = scaled["svc"], scaled["env"], scaled["workers"]
    files = _texts(n_files=6, sentences=400)
    svc.kb.create_collection(TENANT, "policies")
    job_id = svc.kb.upload(TENANT, "policies", [Upload(n, io.BytesIO(b)) for n, b in files.items()]).job_id

    first = Worker(env, scaled["tmp"] / "worker1.log")
    workers.append(first)

    def mid_job(job: dict) -> bool:
        done = sum(f["status"] == "succeeded" for f in job["files"])
        # Any stage of a started file is "mid-job": the kill must interrupt work in progress, whatever the stage.
        running = [f for f in job["files"] if f["status"] == "running"]
        return done >= 1 and bool(running)

    interrupted = _wait(svc, job_id, mid_job, timeout=180)
    first.kill()
    workers.remove(first)
    assert interrupted["status"] == "running"
    killed_files = [f["filename"] for f in interrupted["files"] if f["status"] == "running"]

    second = Worker(env, scaled["tmp"] / "worker2.log")
    workers.append(second)
    # The killed task comes back once the broker's visibility timeout has passed.
    job = _wait(svc, job_id, lambda j: j["status"] in ("succeeded", "failed", "partial"), timeout=VISIBILITY_S + 180)
    second.stop()
    workers.remove(second)

    assert job["status"] == "succeeded", job
    assert [f["status"] for f in job["files"]] == ["succeeded"] * len(files)
    assert killed_files and all(f["stage"] == "done" for f in job["files"])

    docs = svc.kb.list_documents(TENANT, "policies")
    assert sorted(d.filename for d in docs) == sorted(files)
    assert all(d.status == "indexed" and d.chunk_count > 3 for d in docs)
    chunks = _stored_chunks(scaled["tmp"] / "worker", 384)  # the worker embeds with MiniLM
    per_doc = Counter(c.document_id for c in chunks)
    # Exactly once: each document's current version, complete, no duplicates, nothing stale.
    assert per_doc == {d.id: d.chunk_count for d in docs}
    assert len({c.id for c in chunks}) == len(chunks)
    current = {d.id: d.content_hash for d in docs}
    assert all(c.doc_hash == current[c.document_id] for c in chunks)
    assert Counter((c.document_id, c.position) for c in chunks).most_common(1)[0][1] == 1


def test_bad_file_fails_without_retry_and_good_files_index(scaled: dict) -> None:
    svc, env, workers = scaled["svc"], scaled["env"], scaled["workers"]
    svc.kb.create_collection(TENANT, "mixed")
    ups = [
        Upload("good.txt", io.BytesIO(b"The cafeteria opens at eight in the morning and closes at three.")),
        Upload("broken.docx", io.BytesIO(b"PK\x03\x04 this is not really a zip archive at all")),
        Upload("also-good.md", io.BytesIO(b"# Parking\n\nVisitors park on level two of the garage.")),
    ]
    job_id = svc.kb.upload(TENANT, "mixed", ups).job_id
    workers.append(Worker(env, scaled["tmp"] / "worker.log"))
    job = _wait(svc, job_id, lambda j: j["status"] in ("succeeded", "failed", "partial"), timeout=180)
    assert job["status"] == "partial"
    by_name = {f["filename"]: f for f in job["files"]}
    assert by_name["good.txt"]["status"] == by_name["also-good.md"]["status"] == "succeeded"
    bad = by_name["broken.docx"]
    assert bad["status"] == "failed" and bad["code"] in ("corrupt", "type_mismatch") and bad["reason"]
    assert {d.filename for d in svc.kb.list_documents(TENANT, "mixed")} == {"good.txt", "also-good.md"}
