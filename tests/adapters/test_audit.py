"""AuditLog on SQLite (a temp file) and on a real PostgreSQL: append/query, verify, tampering, concurrent writers."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from app.adapters.audit import GENESIS, AuditLog, VerifyResult
from app.core.errors import StoreError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    pg = request.getfixturevalue("pg_database")
    log = AuditLog(pg)
    with log._engine.begin() as conn:  # the database is shared by the module's tests: start from an empty table
        conn.execute(text("DELETE FROM audit_log"))
    log.close()
    return pg


@pytest.fixture
def log(url: str) -> Iterator[AuditLog]:
    audit = AuditLog(url)
    yield audit
    audit.close()


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(f"key:{i % 2}", "acme", "document.delete", f"doc-{i}", "ok", {"i": i})


def _sql(log: AuditLog, statement: str) -> None:
    with log._engine.begin() as conn:
        conn.execute(text(statement))


class TestAppendAndQuery:
    def test_append_returns_the_chained_record(self, log: AuditLog) -> None:
        first = log.append("key:k1", "acme", "collection.create", "handbook", "ok", {"template": "general"})
        second = log.append("anonymous", "acme", "retrieve", "handbook", "denied")
        assert (first["id"], second["id"]) == (1, 2)
        assert first["prev_hash"] == GENESIS and second["prev_hash"] == first["hash"]
        assert second["details"] == {} and len(first["hash"]) == 64
        assert log.head() == (2, second["hash"])

    def test_query_returns_what_append_returned(self, log: AuditLog) -> None:
        record = log.append("key:k1", "acme", "upload", "handbook/job-1", "ok", {"files": ("a.pdf", "b.pdf")})
        assert record["details"] == {"files": ["a.pdf", "b.pdf"]}  # stored as it is hashed: JSON values
        assert log.query() == [record]

    def test_query_filters_newest_first(self, log: AuditLog) -> None:
        _fill(log, 6)
        log.append("key:admin", "other", "key.create", "k9", "error")
        assert [r["id"] for r in log.query(tenant="acme")] == [6, 5, 4, 3, 2, 1]
        assert [r["id"] for r in log.query(actor="key:1", tenant="acme")] == [6, 4, 2]
        assert [r["target"] for r in log.query(action="key.create")] == ["k9"]
        assert [r["id"] for r in log.query(limit=2, offset=1)] == [6, 5]
        now = datetime.now(UTC)
        assert len(log.query(since=now - timedelta(minutes=1))) == 7
        assert log.query(until=now - timedelta(minutes=1)) == []
        assert len(log.query(since=(now - timedelta(minutes=1)).isoformat(), until=now + timedelta(minutes=1))) == 7

    def test_invalid_arguments(self, log: AuditLog) -> None:
        with pytest.raises(ValueError, match="valid: ok, denied, error"):
            log.append("a", "t", "upload", "x", "maybe")
        with pytest.raises(ValueError):
            log.append("a", "t", "upload", "x", "ok", {"score": float("nan")})
        with pytest.raises(ValueError, match="limit"):
            log.query(limit=0)

    def test_a_sqlite_engine_without_begin_immediate_is_refused(self, tmp_path: Path) -> None:
        from sqlalchemy import create_engine

        with pytest.raises(ValueError, match="_make_engine"):
            AuditLog(create_engine(f"sqlite:///{tmp_path / 'x.db'}"))

    def test_unreachable_database_is_a_store_error(self) -> None:
        with pytest.raises(StoreError, match="cannot open audit log"):
            AuditLog("postgresql://nobody@127.0.0.1:1/none")


class TestVerify:
    def test_empty_and_intact_chains_verify(self, log: AuditLog) -> None:
        assert log.verify() == VerifyResult(True, 0)
        _fill(log, 25)
        assert log.verify(batch=7) == VerifyResult(True, 25)

    def test_modified_record(self, log: AuditLog) -> None:
        _fill(log, 5)
        _sql(log, "UPDATE audit_log SET details = '{\"i\": 99}' WHERE id = 3")
        result = log.verify()
        assert (result.ok, result.first_bad_id, result.records) == (False, 3, 2)
        assert "modified" in (result.reason or "")

    def test_modified_outcome(self, log: AuditLog) -> None:
        _fill(log, 3)
        _sql(log, "UPDATE audit_log SET outcome = 'denied' WHERE id = 1")
        assert log.verify().first_bad_id == 1

    @pytest.mark.parametrize("deleted", [1, 3])
    def test_deleted_record(self, log: AuditLog, deleted: int) -> None:
        _fill(log, 5)
        _sql(log, f"DELETE FROM audit_log WHERE id = {deleted}")
        result = log.verify()
        assert (result.ok, result.first_bad_id) == (False, deleted)
        assert "missing" in (result.reason or "")

    def test_deleted_record_with_ids_renumbered(self, log: AuditLog) -> None:
        _fill(log, 5)
        _sql(log, "DELETE FROM audit_log WHERE id = 3")
        _sql(log, "UPDATE audit_log SET id = id - 1 WHERE id > 3")  # hide the gap
        result = log.verify()
        assert (result.ok, result.first_bad_id) == (False, 3)

    def test_swapped_records(self, log: AuditLog) -> None:
        _fill(log, 5)
        _sql(log, "UPDATE audit_log SET id = -2 WHERE id = 2")  # move record 4 to 2 and 2 to 4
        _sql(log, "UPDATE audit_log SET id = 2 WHERE id = 4")
        _sql(log, "UPDATE audit_log SET id = 4 WHERE id = -2")
        result = log.verify()
        assert (result.ok, result.first_bad_id) == (False, 2)

    def test_appends_after_tampering_do_not_heal_the_chain(self, log: AuditLog) -> None:
        _fill(log, 3)
        _sql(log, "UPDATE audit_log SET target = 'other' WHERE id = 2")
        _fill(log, 2)
        assert log.verify().first_bad_id == 2

    def test_hmac_key(self, url: str) -> None:
        keyed = AuditLog(url, key=b"k" * 32)
        try:
            _fill(keyed, 3)
            assert keyed.verify().ok
            # Without the key (or with another) the chain cannot be checked, nor rebuilt by someone who lacks it.
            for other in (AuditLog(url), AuditLog(url, key=b"x" * 32)):
                result = other.verify()
                assert (result.ok, result.first_bad_id) == (False, 1)
                other.close()
        finally:
            keyed.close()


class TestConcurrency:
    def test_threads_keep_one_chain(self, log: AuditLog) -> None:
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                for i in range(20):
                    log.append(f"thread:{n}", "acme", "retrieve", f"q{i}", "ok")
            except BaseException as e:  # reported below, not lost in the thread
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert log.verify() == VerifyResult(True, 160)

    def test_processes_keep_one_chain(self, log: AuditLog, url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_process_writer, args=(url, n, 40)) for n in range(2)]
        for p in procs:
            p.start()
        _fill(log, 20)  # and this process at the same time
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0]
        assert log.verify() == VerifyResult(True, 100)
        assert len(log.query(actor="process:1", limit=1000)) == 40


def _process_writer(url: str, n: int, count: int) -> None:
    log = AuditLog(url)
    for i in range(count):
        log.append(f"process:{n}", "acme", "upload", f"job-{i}", "ok", {"n": n})
    log.close()
