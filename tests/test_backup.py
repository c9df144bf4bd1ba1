"""Backup and restore: a running service's data dir round-trips into a new one (SQLite, JSON dump, PostgreSQL)."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.adapters.audit import AuditLog
from app.backup import BackupError, backup, restore
from app.uploads import Upload
from tests.conftest import PG_URL, make_services, make_settings, pg_engine

DOCS = {
    "leave.txt": b"Annual leave is 25 days per year. Unused leave expires at the end of March.",
    "travel.md": b"# Travel\n\nTrain tickets are refunded in second class. Flights need approval from a manager.",
    "it.txt": b"Laptops are replaced every four years. Report a lost laptop to the IT desk within a day.",
}
QUERY = "how many days of annual leave"


def _populate(settings: Any) -> None:
    svc = make_services(settings)
    try:
        svc.kb.create_collection("default", "policies")
        svc.kb.upload("default", "policies", [Upload(n, io.BytesIO(b)) for n, b in DOCS.items()])
        assert svc.runner.wait_idle(60)
        log = AuditLog(settings.sqlalchemy_url)
        log.append("key:admin", "default", "collection.create", "policies", "ok")
        log.append("key:admin", "default", "upload", "policies", "ok", {"files": sorted(DOCS)})
        log.close()
    finally:
        svc.close()


def _state(settings: Any) -> dict[str, Any]:
    """Everything a restore must bring back, with paths made relative to the data dir."""
    svc = make_services(settings)
    try:
        docs = svc.kb.list_documents("default", "policies")
        root = settings.originals_dir
        hits = svc.kb.retrieve("default", "policies", QUERY).chunks
        audit = AuditLog(settings.sqlalchemy_url)
        state = {
            "documents": sorted(
                (d.id, d.filename, d.content_hash, d.chunk_count, d.status, Path(d.source_path).relative_to(root))
                for d in docs
            ),
            "chunks": svc.kb.count_chunks("default", "policies"),
            "retrieval": [(h.chunk.id, round(h.score, 6), h.chunk.text) for h in hits],
            "originals": {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()},
            "audit": (audit.verify().ok, audit.head()),
        }
        audit.close()
        assert all(Path(d.source_path).is_file() for d in docs)
        return state
    finally:
        svc.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = make_settings(tmp_path_factory.mktemp("source"))
    _populate(settings)
    return settings


@pytest.fixture(scope="module")
def expected(source: Any) -> dict[str, Any]:
    state = _state(source)
    assert len(state["documents"]) == 3 and state["chunks"] >= 3 and state["retrieval"]
    assert state["audit"][0] and state["audit"][1][0] == 2
    return state


class TestRoundTrip:
    def test_backup_of_the_running_service_restores_identically(self, source, expected, tmp_path: Path) -> None:
        svc = make_services(source)  # the running service holds the shard: the backup goes through its store
        try:
            archive = backup(source, tmp_path / "backups", store=svc.store)
        finally:
            svc.close()
        assert archive.name.startswith("grounded-backup-") and archive.name.endswith(".tar.gz")
        target = make_settings(tmp_path / "restored")
        manifest = restore(target, archive)
        assert manifest["database"]["format"] == "sqlite"
        assert manifest["database"]["rows"]["documents"] == 3 and manifest["database"]["rows"]["audit_log"] == 2
        assert manifest["index"] == {"kind": "qdrant-edge", "points": expected["chunks"]}
        assert manifest["originals"] == len(expected["originals"])
        assert _state(target) == expected

    def test_offline_backup_as_json_restores_identically(self, source, expected, tmp_path: Path) -> None:
        archive = backup(source, tmp_path / "x.tar.gz", db_format="json")
        target = make_settings(tmp_path / "restored")
        assert restore(target, archive)["database"]["format"] == "json"
        assert _state(target) == expected

    def test_restored_originals_can_be_reindexed(self, source, expected, tmp_path: Path) -> None:
        target = make_settings(tmp_path / "restored")
        restore(target, backup(source, tmp_path / "x.tar.gz"))
        svc = make_services(target)
        try:
            svc.kb.reindex_collection("default", "policies", template="general")
            assert svc.runner.wait_idle(60)
            assert svc.kb.count_chunks("default", "policies") == expected["chunks"]
            assert all(d.status == "indexed" for d in svc.kb.list_documents("default", "policies"))
        finally:
            svc.close()


class TestWhileRunning:
    def test_backup_during_ingestion_is_consistent(self, tmp_path: Path) -> None:
        settings = make_settings(tmp_path / "busy")
        svc = make_services(settings)
        try:
            svc.kb.create_collection("default", "policies")
            text = "Extra policy {}: a rule of the house, written out at some length. "
            svc.kb.upload(
                "default", "policies", [Upload(f"{i}.txt", io.BytesIO(text.format(i).encode() * 40)) for i in range(4)]
            )
            archive = backup(settings, tmp_path / "b.tar.gz", store=svc.store)  # while the job writes chunks
            assert svc.runner.wait_idle(60)
        finally:
            svc.close()
        target = make_settings(tmp_path / "restored")
        manifest = restore(target, archive)  # the restored shard's point count equals the one taken under the lock
        svc = make_services(target)
        try:
            assert svc.kb.count_chunks("default", "policies") == manifest["index"]["points"]
        finally:
            svc.close()

    def test_a_shard_held_by_the_service_needs_its_store(self, source, tmp_path: Path) -> None:
        svc = make_services(source)
        try:
            with pytest.raises(BackupError, match="pass the running store"):
                backup(source, tmp_path)
            with pytest.raises(BackupError, match="stop the service first"):
                restore(source, tmp_path / "any.tar.gz")
        finally:
            svc.close()
        assert list(tmp_path.iterdir()) == []  # no partial archive left behind


class TestRefusals:
    @pytest.fixture(scope="class")
    def archive(self, source: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
        return backup(source, tmp_path_factory.mktemp("archive") / "b.tar.gz")

    def test_non_empty_target(self, archive: Path, source: Any) -> None:
        with pytest.raises(BackupError, match="restore needs an empty target: .*qdrant is not empty.*documents has 3"):
            restore(source, archive)

    def test_bad_db_format(self, source: Any, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="valid: auto, json"):
            backup(source, tmp_path, db_format="xml")

    @pytest.mark.parametrize("change", ["modify", "add", "drop"])
    def test_damaged_archive_is_refused_before_anything_is_written(
        self, archive: Path, tmp_path: Path, change: str
    ) -> None:
        forged = tmp_path / "forged.tar.gz"
        with tarfile.open(archive, "r:gz") as src, tarfile.open(forged, "w:gz", compresslevel=1) as dst:
            members = src.getmembers()
            for m in members:
                data = src.extractfile(m).read()  # type: ignore[union-attr]
                if m.name.startswith("originals/") and m.name.endswith(".txt"):
                    if change == "drop":
                        change = "dropped"
                        continue
                    if change == "modify":
                        data, change = data.replace(b"25", b"52"), "modified"
                m.size = len(data)
                dst.addfile(m, io.BytesIO(data))
            if change == "add":
                extra = tarfile.TarInfo("originals/default/evil.txt")
                extra.size = 4
                dst.addfile(extra, io.BytesIO(b"evil"))
        target = make_settings(tmp_path / "restored")
        with pytest.raises(BackupError, match="checksum mismatch|members differ"):
            restore(target, forged)
        assert not target.index_dir.exists() and not target.originals_dir.exists()

    def test_not_a_backup(self, tmp_path: Path) -> None:
        junk = tmp_path / "junk.tar.gz"
        junk.write_bytes(b"not a tarball")
        with pytest.raises(BackupError, match="not a readable backup"):
            restore(make_settings(tmp_path / "restored"), junk)

    def test_sqlite_copy_does_not_go_into_postgresql(self, archive: Path, tmp_path: Path) -> None:
        from app.adapters.db_dump import DumpError as BackupError
        from app.adapters.db_dump import restore_database as _restore_database

        manifest_db = {"format": "sqlite"}
        with pytest.raises(BackupError, match="back up with db_format='json'"):
            _restore_database("postgresql+psycopg://x@127.0.0.1:1/none", manifest_db, tmp_path)


@pytest.fixture
def second_pg_database() -> Iterator[str]:
    """One more fresh PostgreSQL database (the restore target), dropped at the end."""
    from sqlalchemy.engine import make_url

    admin = pg_engine(make_url(PG_URL).set(database="postgres").render_as_string(False), isolation_level="AUTOCOMMIT")
    name = f"grounded_restore_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.integration
class TestPostgres:
    @pytest.fixture(scope="class")
    def pg_source(self, pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
        settings = make_settings(tmp_path_factory.mktemp("pg"), database_url=pg_database)
        _populate(settings)
        return settings, _state(settings)

    def test_pg_dump_round_trip(self, pg_source, second_pg_database: str, tmp_path: Path) -> None:
        settings, expected = pg_source
        archive = backup(settings, tmp_path)
        target = make_settings(tmp_path / "restored", database_url=second_pg_database)
        make_services(target).close()  # a service started once on the target: empty tables and an empty shard
        manifest = restore(target, archive)
        assert (manifest["database"]["backend"], manifest["database"]["format"]) == ("postgresql", "pg_dump")
        rows = {"audit_log": 2, "collections": 1, "documents": 3, "jobs": 1}
        assert manifest["database"]["rows"].items() >= rows.items()
        assert _state(target) == expected
        AuditLog(target.sqlalchemy_url).append("key:admin", "default", "restore", "x", "ok")  # ids continue

    def test_json_dump_from_postgresql_into_sqlite(self, pg_source, tmp_path: Path) -> None:
        settings, expected = pg_source
        archive = backup(settings, tmp_path, db_format="json")
        target = make_settings(tmp_path / "restored")
        assert restore(target, archive)["database"]["backend"] == "postgresql"
        assert _state(target) == expected

    def test_json_dump_into_postgresql(self, source, expected, second_pg_database: str, tmp_path: Path) -> None:
        archive = backup(source, tmp_path, db_format="json")
        target = make_settings(tmp_path / "restored", database_url=second_pg_database)
        restore(target, archive)
        assert _state(target) == expected
        svc = make_services(target)
        try:  # the serial key of collections continues after the restored ids
            svc.kb.create_collection("default", "more")
        finally:
            svc.close()
