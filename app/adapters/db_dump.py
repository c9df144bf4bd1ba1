"""Dump and restore of the metadata database, for backups: SQLite, PostgreSQL, or a portable JSON form of both.

Formats (written into an empty folder):
- ``sqlite``: ``grounded.db``, a consistent copy made with the sqlite3 backup API while other connections write;
- ``pg_dump``: ``pg.dump``, a `pg_dump` custom-format file, restored with `pg_restore`;
- ``json``: ``schema.json`` and one ``<table>.jsonl`` per table; restores into either backend.

Example:
    info = dump_database(settings.sqlalchemy_url, folder, "auto")   # {"backend", "format", "rows"}
    restore_database(other_url, info, folder)
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from app.adapters.metadata_db import _make_engine
from app.core.errors import GroundedError

DB_FORMATS = ("auto", "json")
_PORTABLE_TYPES = {"Integer", "BigInteger", "SmallInteger", "String", "Text", "Boolean", "Float", "Numeric", "JSON"}
_PORTABLE_TYPES |= {"Date", "Time", "LargeBinary", "Uuid"}


class DumpError(GroundedError):
    """A database dump cannot be written or restored; the message says what to fix."""


def dump_database(url: str, out: Path, db_format: str) -> dict[str, Any]:
    """Dump the database at `url` into the folder `out`.

    Args:
        db_format: "auto" (SQLite copy; pg_dump, else JSON, on PostgreSQL) or "json" (portable across backends).

    Returns:
        {"backend", "format" (sqlite | pg_dump | json), "rows" (table → row count)}: what `restore_database` needs.

    Raises:
        DumpError: pg_dump failed.
    """
    if db_format not in DB_FORMATS:
        raise ValueError(f"db_format {db_format!r}; valid: {', '.join(DB_FORMATS)}")
    engine, _ = _make_engine(url)
    try:
        backend = engine.dialect.name
        counts = _table_counts(engine)
        if db_format == "json":
            _json_dump(engine, out)
        elif backend == "sqlite":
            db_format = "sqlite"
            src, dst = sqlite3.connect(str(engine.url.database)), sqlite3.connect(out / "grounded.db")
            with contextlib.closing(src), contextlib.closing(dst):
                src.backup(dst)  # a consistent copy while other connections write
        elif shutil.which("pg_dump"):
            db_format = "pg_dump"
            _pg_tool(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={out / 'pg.dump'}"], url)
        else:
            db_format = "json"
            _json_dump(engine, out)
    finally:
        engine.dispose()
    return {"backend": backend, "format": db_format, "rows": counts}


def restore_database(url: str, db: dict[str, Any], folder: Path) -> None:
    """Load the dump in `folder` (described by `db`, as `dump_database` returned it) into the empty database at `url`.

    Raises:
        DumpError: the format cannot go into this backend (a SQLite copy into PostgreSQL...), or pg_restore failed.
    """
    fmt, backend = db["format"], make_url(url).get_backend_name()
    if fmt not in ("json", {"sqlite": "sqlite", "postgresql": "pg_dump"}.get(backend)):
        raise DumpError(f"a {fmt} database dump cannot be restored into {backend}; back up with db_format='json'")
    if fmt == "json":
        _json_load(url, folder)
    elif fmt == "sqlite":
        target = Path(str(make_url(url).database))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "grounded.db", target)
    else:
        cmd = ["pg_restore", "--no-owner", "--no-privileges", "--clean", "--if-exists", "--exit-on-error"]
        _pg_tool([*cmd, "--single-transaction", str(folder / "pg.dump")], url)


def table_counts(url: str) -> dict[str, int]:
    """Rows in each table of the database at `url`."""
    engine, _ = _make_engine(url)
    try:
        return _table_counts(engine)
    finally:
        engine.dispose()


def rebase_paths(url: str, old: str, new: str) -> None:
    """Stored originals moved: rewrite document source paths and queued job payloads that point under `old`."""
    old, new = old.rstrip(os.sep) + os.sep, new.rstrip(os.sep) + os.sep
    engine, _ = _make_engine(url)
    meta = sa.MetaData()
    try:
        meta.reflect(engine, only=["documents", "jobs"])
        docs, jobs = meta.tables["documents"], meta.tables["jobs"]
        with engine.begin() as conn:
            for doc_id, path in conn.execute(sa.select(docs.c.id, docs.c.source_path)).all():
                if path and path.startswith(old):
                    conn.execute(docs.update().where(docs.c.id == doc_id).values(source_path=new + path[len(old) :]))
            for job_id, payload in conn.execute(sa.select(jobs.c.id, jobs.c.payload)).all():
                moved = json.loads(json.dumps(payload).replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1]))
                if moved != payload:
                    conn.execute(jobs.update().where(jobs.c.id == job_id).values(payload=moved))
    finally:
        engine.dispose()


def _pg_tool(cmd: list[str], url: str) -> None:
    parsed = make_url(url)
    env = os.environ | ({"PGPASSWORD": parsed.password} if parsed.password else {})  # never on the command line
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    done = subprocess.run([*cmd, f"--dbname={uri}"], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise DumpError(f"{cmd[0]} failed: {done.stderr.strip()[-2000:]}")


def _json_dump(engine: Engine, out: Path) -> None:
    meta = sa.MetaData()
    meta.reflect(engine)
    schema = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            schema[table.name] = [[c.name, _generic(c.type), c.nullable, c.primary_key] for c in table.columns]
            with open(out / f"{table.name}.jsonl", "w", encoding="utf-8") as f:
                for row in conn.execute(sa.select(table)).mappings():
                    f.write(json.dumps({k: _encode(v) for k, v in row.items()}, ensure_ascii=False) + "\n")
    (out / "schema.json").write_text(json.dumps(schema, indent=1), encoding="utf-8")


def _json_load(url: str, folder: Path) -> None:
    """Tables the service knows are created by its own stores (indexes, constraints); others from the dump."""
    from app.adapters.audit import AuditLog
    from app.adapters.metadata_db import SqlMetadataStore
    from app.faq.store import SqlFaqStore

    meta_store = SqlMetadataStore(url)
    SqlFaqStore(meta_store)  # FAQ tables with their unique-question constraint
    meta_store.close()
    AuditLog(url).close()
    engine, _ = _make_engine(url)
    try:
        schema = json.loads((folder / "schema.json").read_text(encoding="utf-8"))
        meta = sa.MetaData()
        meta.reflect(engine)
        for name, columns in schema.items():
            if name not in meta.tables:
                cols = [sa.Column(c, _type(t), nullable=n, primary_key=pk) for c, t, n, pk in columns]
                sa.Table(name, meta, *cols).create(engine)
        with engine.begin() as conn:
            for name in schema:
                table = meta.tables[name]
                with open(folder / f"{name}.jsonl", encoding="utf-8") as f:
                    rows = (_decode(json.loads(line), table) for line in f)
                    for batch in iter(lambda: list(itertools.islice(rows, 1000)), []):  # noqa: B023
                        conn.execute(table.insert(), batch)
                pk = list(table.primary_key.columns)
                if engine.dialect.name == "postgresql" and len(pk) == 1 and isinstance(pk[0].type, sa.Integer):
                    # A serial key must continue after the restored ids (NULL, a no-op, when there is no sequence).
                    seq, col = f"pg_get_serial_sequence('{name}', '{pk[0].name}')", f'"{pk[0].name}"'
                    conn.execute(sa.text(f'SELECT setval({seq}, COALESCE(MAX({col}), 0) + 1, false) FROM "{name}"'))
    finally:
        engine.dispose()


def _generic(t: Any) -> str:
    try:
        return type(t.as_generic()).__name__
    except NotImplementedError:  # e.g. JSONB
        return "JSON"


def _type(name: str) -> Any:
    if name == "DateTime":
        return sa.DateTime(timezone=True)
    kind = getattr(sa.types, name, None)
    return kind() if name in _PORTABLE_TYPES and kind is not None else sa.String()


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value) if isinstance(value, Decimal) else value


def _decode(row: dict[str, Any], table: sa.Table) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        kind = table.columns[key].type
        if isinstance(value, str) and isinstance(kind, sa.DateTime):
            dt = datetime.fromisoformat(value)  # SQLite gives naive datetimes back; the service stores UTC
            value = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        elif isinstance(value, str) and isinstance(kind, sa.Date):
            value = date.fromisoformat(value)
        elif isinstance(value, str) and isinstance(kind, sa.LargeBinary):
            value = base64.b64decode(value)
        out[key] = value
    return out


def _table_counts(engine: Engine) -> dict[str, int]:
    names = sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        return {t: int(conn.execute(sa.text(f'SELECT COUNT(*) FROM "{t}"')).scalar() or 0) for t in names}
