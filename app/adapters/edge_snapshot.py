"""A consistent copy of an embedded qdrant-edge shard, for backups.

qdrant-edge 0.9 can unpack snapshots but not create them, so a backup copies the shard folder itself: after a flush,
with index writes held by the store's lock (searches go on). One process owns a shard: while the service runs, the
copy goes through its open `EdgeChunkStore`; otherwise the shard is opened here.

Example:
    with locked_shard(settings.index_dir, services.store) as shard:
        if shard is not None:
            points = copy_shard(shard, settings.index_dir, lambda path, name: tar.add(path, f"index/{name}"))
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.core.errors import GroundedError


class SnapshotError(GroundedError):
    """A shard cannot be opened (e.g. another process holds it); `reason` is the engine's message."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot open the index at {path}: {reason}")
        self.path = path
        self.reason = reason


@contextlib.contextmanager
def open_shard(path: Path) -> Iterator[Any]:
    """The shard stored at `path`, closed on exit.

    Raises:
        SnapshotError: the engine cannot load it (not a shard, or the running service holds it).
    """
    import qdrant_edge as q

    try:
        shard = q.EdgeShard.load(str(path))
    except Exception as e:  # the engine raises plain exceptions, e.g. when the service holds the shard
        raise SnapshotError(path, str(e)) from e
    try:
        yield shard
    finally:
        shard.close()


@contextlib.contextmanager
def locked_shard(index_dir: Path, store: Any = None, remote: bool = False) -> Iterator[Any]:
    """The shard with index writes held; None when there is no embedded shard to copy.

    Args:
        index_dir: the shard's folder.
        store: the service's open chunk store. An `EdgeChunkStore` lends its shard under its write lock (after a
            running optimisation ends: it rewrites segments without the lock); another store (a Qdrant server) has
            no shard here. None: the shard under `index_dir` is opened here, if there is one.
        remote: the index lives on a Qdrant server.

    Raises:
        SnapshotError: `store` is None and the shard cannot be opened.
    """
    from app.adapters.edge_store import EdgeChunkStore

    if remote or (store is not None and not isinstance(store, EdgeChunkStore)):
        yield None
        return
    if store is None:
        if not index_dir.is_dir() or not any(index_dir.iterdir()):
            yield None
            return
        with open_shard(index_dir) as shard:
            yield shard
        return
    optimizer = getattr(store, "_optimizer", None)
    if optimizer is not None and optimizer.is_alive():
        optimizer.join()
    with store._lock:
        yield store.shard


def copy_shard(shard: Any, index_dir: Path, copy: Callable[[Path, str], None]) -> int:
    """Flush `shard` and hand each file of its folder to `copy` (path, POSIX path relative to `index_dir`).

    Call it inside `locked_shard`, so no write lands between the flush and the last file. Returns the exact number
    of points the copied files hold.
    """
    shard.flush()
    for file in sorted(p for p in index_dir.rglob("*") if p.is_file()):
        copy(file, file.relative_to(index_dir).as_posix())
    return shard_points(shard)


def shard_points(shard: Any) -> int:
    """Exact number of points in an open shard."""
    import qdrant_edge as q

    return int(shard.count(q.CountRequest(exact=True)))


def count_points(index_dir: Path) -> int:
    """Exact number of points in the shard stored at `index_dir` (opened and closed here).

    Raises:
        SnapshotError: the shard cannot be opened.
    """
    with open_shard(index_dir) as shard:
        return shard_points(shard)
