"""Backup and restore of one deployment: the vector index, the metadata database and the stored originals.

One tar.gz holds ``index/`` (the qdrant-edge shard folder: app.adapters.edge_snapshot), ``database/`` (a SQLite
copy, a pg_dump file or portable JSON: app.adapters.db_dump), ``originals/`` and, last, ``manifest.json`` (format
version, counts, sha256 of every member). Searches go on during a backup; index writes wait only while the index and
the database are copied. Restore goes into an empty target only, and checks every checksum before it writes.

Example:
    archive = backup(settings, Path("/backups"), store=services.store)
    restore(new_settings, archive)   # before the services of new_settings are built
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from app.adapters.db_dump import DB_FORMATS, DumpError, dump_database, rebase_paths, restore_database, table_counts
from app.adapters.edge_snapshot import SnapshotError, copy_shard, count_points, locked_shard
from app.core.errors import GroundedError
from app.core.settings import Settings

log = logging.getLogger(__name__)
FORMAT, VERSION = "grounded-backup", 1


class BackupError(GroundedError):
    """A backup cannot be taken or restored; the message says what to fix."""


def backup(settings: Settings, dest: Path, store: Any = None, db_format: str = "auto") -> Path:
    """Write one archive of the index, the database and the originals; returns its path.

    Args:
        dest: a folder (the archive is named grounded-backup-<UTC time>.tar.gz) or a path ending in .tar.gz.
        store: the service's open chunk store (an EdgeChunkStore): needed while the service runs, because one process
            owns the shard. None: the shard under settings.index_dir is opened here. A Qdrant server index is not
            included (use the server's snapshots).
        db_format: "auto" (SQLite copy; pg_dump, else JSON, on PostgreSQL) or "json" (portable across backends).
    """
    if db_format not in DB_FORMATS:
        raise ValueError(f"db_format {db_format!r}; valid: {', '.join(DB_FORMATS)}")
    dest = Path(dest)
    if not dest.name.endswith(".tar.gz"):
        dest = dest / f"grounded-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar.gz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    manifest: dict[str, Any] = {"format": FORMAT, "version": VERSION, "app_version": _app_version()}
    manifest |= {"created_at": datetime.now(UTC).isoformat(), "originals_dir": str(settings.originals_dir)}
    members: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(dir=dest.parent, prefix=".grounded-backup-") as tmp,
        _removed_on_error(partial),
        _as_backup_error("pass the running store"),
    ):
        # Level 1: the index's preallocated files are mostly zeros, and index writes wait while they are compressed.
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            with locked_shard(settings.index_dir, store, remote=bool(settings.qdrant_url)) as shard:
                # the index and the database are copied as close together as we can
                manifest["index"] = _add_index(tar, shard, settings, members)
                manifest["database"] = dump_database(settings.sqlalchemy_url, Path(tmp), db_format)
            for path in sorted(Path(tmp).rglob("*")):
                _add(tar, path, f"database/{path.relative_to(tmp)}", members)
            root, files = settings.originals_dir, 0
            for path in sorted(root.rglob("*")) if root.is_dir() else []:
                if path.is_file():
                    _add(tar, path, f"originals/{path.relative_to(root).as_posix()}", members)
                    files += 1
            manifest |= {"originals": files, "members": members}
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        os.replace(partial, dest)
    log.info("backup written to %s (%d members)", dest, len(members))
    return dest


def restore(settings: Settings, archive: Path) -> dict[str, Any]:
    """Restore an archive into the empty index folder, originals folder and database of `settings`.

    Returns the archive's manifest (less the member list) with `restored_in_s`.

    Raises:
        BackupError: the target is not empty, the archive is not a backup or fails its checksums, or the database
            format cannot be restored into the target's backend.
    """
    started = time.perf_counter()
    with _as_backup_error("stop the service first"):
        return _restore(settings, Path(archive)) | {"restored_in_s": round(time.perf_counter() - started, 3)}


def _restore(settings: Settings, archive: Path) -> dict[str, Any]:
    url = settings.sqlalchemy_url
    _require_empty(settings, url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=settings.data_dir, prefix=".grounded-restore-"))
    try:
        manifest = _extract_verified(archive, staging)
        kind = manifest["index"]["kind"]
        if settings.qdrant_url and kind == "qdrant-edge":
            raise BackupError("the archive holds an embedded qdrant-edge index, the target uses a Qdrant server")
        if kind == "qdrant-server":
            log.warning("the archive has no index (it lives on a Qdrant server): restore its snapshot, or reindex")
        restore_database(url, manifest["database"], staging / "database")
        old, new = manifest["originals_dir"], str(settings.originals_dir)
        if old != new:
            rebase_paths(url, old, new)
        if kind == "qdrant-edge":
            _move(staging / "index", settings.index_dir)
            points = count_points(settings.index_dir)
            if points != manifest["index"]["points"]:
                raise BackupError(f"restored index has {points} points, the manifest says {manifest['index']}")
        _move(staging / "originals", settings.originals_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest.pop("members")
    return manifest


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of an archive, less the member list, without unpacking it. Raises BackupError."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    except (OSError, tarfile.TarError, KeyError, ValueError) as e:
        raise BackupError(f"{archive} is not a readable backup: {e}") from e
    manifest.pop("members", None)
    return manifest


def _add_index(tar: tarfile.TarFile, shard: Any, settings: Settings, members: dict[str, Any]) -> dict[str, Any]:
    if shard is None:  # a Qdrant server keeps its own snapshots; or there is no index yet
        return {"kind": "qdrant-server" if settings.qdrant_url else "none", "points": 0}
    points = copy_shard(shard, settings.index_dir, lambda path, name: _add(tar, path, f"index/{name}", members))
    return {"kind": "qdrant-edge", "points": points}


class _Hashing:
    def __init__(self, f: Any) -> None:
        self.f, self.sha = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha.update(data)
        return data


def _add(tar: tarfile.TarFile, path: Path, name: str, members: dict[str, Any]) -> None:
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())  # an original replaced meanwhile is still read whole from this handle
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o600
        reader = _Hashing(f)
        tar.addfile(info, reader)
    members[name] = {"sha256": reader.sha.hexdigest(), "size": st.st_size}


def _extract_verified(archive: Path, staging: Path) -> dict[str, Any]:
    """Unpack into `staging`, hashing as it goes; the index's preallocated files stay sparse on disk."""
    found: dict[str, str] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                member = tarfile.data_filter(member, str(staging))  # no absolute paths, links or devices
                if not member.isfile():
                    continue
                found[member.name] = _write_sparse(tar.extractfile(member), staging / member.name, member.size)
        manifest = json.loads((staging / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, tarfile.TarError, ValueError) as e:
        raise BackupError(f"{archive} is not a readable backup: {e}") from e
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{archive}: not a {FORMAT} v{VERSION} archive")
    expected, found = manifest["members"], {k: v for k, v in found.items() if k != "manifest.json"}
    if set(found) != set(expected):
        raise BackupError(f"{archive}: members differ from the manifest: {sorted(set(found) ^ set(expected))[:10]}")
    for name, meta in expected.items():
        if found[name] != meta["sha256"]:
            raise BackupError(f"{archive}: checksum mismatch for {name}; the archive is damaged")
    return manifest


def _write_sparse(src: Any, dst: Path, size: int) -> str:
    sha, zero = hashlib.sha256(), bytes(1 << 14)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as out:
        for block in iter(lambda: src.read(1 << 14), b""):
            sha.update(block)
            if block == zero[: len(block)]:
                out.seek(len(block), os.SEEK_CUR)
            else:
                out.write(block)
        out.truncate(size)
    return sha.hexdigest()


def _require_empty(settings: Settings, url: str) -> None:
    """Refuse a target with data. A shard without points and folders without files count as empty (a service
    started once on the target leaves them); a shard the running service holds cannot be opened and is refused."""
    originals = settings.originals_dir
    busy = [f"{originals} holds files"] if originals.is_dir() and any(p.is_file() for p in originals.rglob("*")) else []
    if settings.index_dir.is_dir() and any(settings.index_dir.iterdir()):
        points = count_points(settings.index_dir)  # a shard the running service holds raises SnapshotError
        busy += [f"{settings.index_dir} is not empty ({points} points)"] if points else []
    busy += [f"database table {t} has {n} rows" for t, n in table_counts(url).items() if n]
    if busy:
        raise BackupError("restore needs an empty target: " + "; ".join(busy))


@contextlib.contextmanager
def _as_backup_error(hint: str) -> Iterator[None]:
    """The adapters' errors as BackupError; `hint` says what to do when the index cannot be opened."""
    try:
        yield
    except SnapshotError as e:
        raise BackupError(f"cannot open the index at {e.path} ({hint}): {e.reason}") from e
    except DumpError as e:
        raise BackupError(str(e)) from e


@contextlib.contextmanager
def _removed_on_error(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _app_version() -> str:
    try:
        return version("grounded")
    except PackageNotFoundError:
        return "unknown"


def _move(src: Path, dst: Path) -> None:
    if not src.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dst, ignore_errors=True)  # nothing of value: _require_empty checked it
    shutil.move(str(src), str(dst))
