"""Ingest jobs: persisted before they run, resumed after a restart, finished files never run twice.

A "restart" is real: the services are closed and new ones are built on the same data dir (SQLite + qdrant-edge).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.container import Services, build_services
from app.knowledge import Upload
from ingest.jobs import InProcessJobRunner, execute_ingest_job
from tests.conftest import make_services, make_settings

TENANT = "default"
FILES = {
    "leave.txt": b"Employees receive 25 days of annual leave. Unused days expire at the end of March.",
    "travel.txt": b"The daily meal allowance is 60 euros abroad. Hotels are reimbursed up to 180 euros.",
}


class Crash(BaseException):
    """Stands for the process dying mid-job: not an Exception, so nothing in the job code catches it."""


def upload(svc: Services, files: dict[str, bytes], collection: str = "c") -> str:
    if collection not in {c["name"] for c in svc.kb.list_collections(TENANT)}:
        svc.kb.create_collection(TENANT, collection)
    ups = [Upload(name, io.BytesIO(data)) for name, data in files.items()]
    return svc.kb.upload(TENANT, collection, ups).job_id


def finish(svc: Services, job_id: str) -> dict:
    assert svc.runner.wait_idle(timeout=60)
    return svc.kb.get_job(TENANT, job_id)


def spy(calls: list[str], run: Callable[..., Any], fail: Callable[[str], BaseException | None]) -> Callable[..., Any]:
    """Wraps pipeline.run: records each filename and raises what `fail` returns for it."""

    def wrapped(src: Any, progress: Any = None) -> Any:
        calls.append(src.filename)
        if err := fail(src.filename):
            raise err
        return run(src, progress)

    return wrapped


@pytest.fixture(scope="module")
def single_run_chunks(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Chunks that one uninterrupted run of FILES indexes: the reference for "indexed once"."""
    svc = make_services(make_settings(tmp_path_factory.mktemp("reference")))
    try:
        job = finish(svc, upload(svc, FILES))
        assert job["status"] == "succeeded"
        return svc.kb.count_chunks(TENANT, "c")
    finally:
        svc.close()


class Lifetimes:
    """Opens services on one data dir, one at a time, the way a process restart would."""

    def __init__(self, tmp_path: Path) -> None:
        self.settings = make_settings(tmp_path)
        self.current: Services | None = None

    def open(self, start_runner: bool) -> Services:
        """New services; without `start_runner` they can queue jobs but run none."""
        self.close()
        self.current = build_services(self.settings)
        self.current.warm_up()
        if start_runner:
            self.current.runner.start()
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


@pytest.fixture
def lifetimes(tmp_path: Path) -> Iterator[Lifetimes]:
    lt = Lifetimes(tmp_path)
    yield lt
    lt.close()


class TestRunnerConstruction:
    def test_needs_at_least_one_worker(self, services: Services) -> None:
        with pytest.raises(ValueError, match="workers"):
            InProcessJobRunner(services.pipeline, services.metadata, workers=0)

    def test_start_with_nothing_to_resume(self, services: Services) -> None:
        runner = InProcessJobRunner(services.pipeline, services.metadata, workers=2)
        try:
            assert runner.start() == 0 and runner.wait_idle(timeout=1)
        finally:
            runner.stop()


class TestResume:
    def test_queued_job_survives_a_restart_and_indexes_once(self, lifetimes, single_run_chunks) -> None:
        first = lifetimes.open(start_runner=False)
        job_id = upload(first, FILES)
        assert first.kb.get_job(TENANT, job_id)["status"] == "queued"

        second = lifetimes.open(start_runner=True)
        job = finish(second, job_id)
        assert job["status"] == "succeeded" and job["counts"]["files_succeeded"] == len(FILES)
        assert second.kb.count_chunks(TENANT, "c") == single_run_chunks == job["counts"]["chunks"]
        docs = second.kb.list_documents(TENANT, "c")
        assert sorted(d.external_id for d in docs) == sorted(FILES)
        assert sum(d.chunk_count for d in docs) == single_run_chunks
        assert second.metadata.list_jobs(["queued", "running"]) == []

    def test_running_job_resumes_with_only_the_unfinished_file(self, lifetimes, single_run_chunks) -> None:
        first = lifetimes.open(start_runner=False)
        job_id = upload(first, FILES)
        crash_on = list(FILES)[1]
        first.pipeline.run = spy([], first.pipeline.run, lambda name: Crash() if name == crash_on else None)
        with pytest.raises(Crash):
            execute_ingest_job(job_id, TENANT, first.pipeline, first.metadata)

        second = lifetimes.open(start_runner=False)
        interrupted = second.kb.get_job(TENANT, job_id)
        assert interrupted["status"] == "running"
        done_before = interrupted["files"][0]
        assert done_before["status"] == "succeeded" and interrupted["files"][1]["status"] == "running"

        calls: list[str] = []
        second.pipeline.run = spy(calls, second.pipeline.run, lambda name: None)
        assert second.runner.start() == 1
        job = finish(second, job_id)
        assert calls == [crash_on]
        assert job["status"] == "succeeded" and job["files"][0] == done_before
        assert job["files"][1]["status"] == "succeeded" and job["files"][1]["chunks"] > 0
        assert second.kb.count_chunks(TENANT, "c") == single_run_chunks == job["counts"]["chunks"]

    def test_finished_job_is_not_run_again(self, services: Services) -> None:
        job_id = upload(services, FILES)
        done = finish(services, job_id)
        chunks = services.kb.count_chunks(TENANT, "c")
        calls: list[str] = []
        services.pipeline.run = spy(calls, services.pipeline.run, lambda name: AssertionError("ran again"))
        assert execute_ingest_job(job_id, TENANT, services.pipeline, services.metadata) == done
        assert calls == [] and services.kb.get_job(TENANT, job_id) == done
        assert services.kb.count_chunks(TENANT, "c") == chunks


class TestFailures:
    def test_stage_exception_fails_only_that_file(self, services: Services, monkeypatch) -> None:
        parse = services.pipeline.parse.run

        def broken(path: str, filename: str, *args: Any, **kw: Any) -> Any:
            if filename == "travel.txt":
                raise RuntimeError("parser exploded")
            return parse(path, filename, *args, **kw)

        monkeypatch.setattr(services.pipeline.parse, "run", broken)
        job = finish(services, upload(services, FILES))
        assert job["status"] == "partial" and job["error"] == "1 of 2 files failed"
        by_name = {f["filename"]: f for f in job["files"]}
        assert by_name["leave.txt"]["status"] == "succeeded" and by_name["leave.txt"]["chunks"] > 0
        bad = by_name["travel.txt"]
        assert bad["status"] == "failed" and bad["code"] == "internal" and bad["stage"] == "failed"
        assert "internal error" in bad["reason"] and "RuntimeError" in bad["reason"] and "exploded" in bad["reason"]
        assert [d.external_id for d in services.kb.list_documents(TENANT, "c")] == ["leave.txt"]
