"""`grounded keys|audit|backup|restore|originals`: operator commands on a deployment's data. Thin: parse, call, print.

Every command that changes data (a key created or revoked, a backup, a restore, a key rotation) appends a record with
actor "cli" to the audit log, "ok" or "error".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInputError

ACTOR = "cli"


def _out(data: Any, as_json: bool, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if as_json else text)


def _services() -> Any:
    """The services without the job runner or the models: these commands only touch the stores."""
    from app.container import build_services
    from app.core.settings import get_settings

    return build_services(get_settings())


@contextlib.contextmanager
def _audited(svc: Any, action: str, tenant: str, target: str, details: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Append the command's audit record when it ends: "error" (with the message) when it raised, else "ok".

    The command may change `tenant`, `target`, `details` and `outcome` in the yielded dict as it learns them."""
    rec: dict[str, Any] = {"tenant": tenant, "target": target, "details": dict(details)}
    try:
        yield rec
    except Exception as e:
        details = rec["details"] | {"error": str(e)[:500]}
        svc.audit.append(ACTOR, rec["tenant"], action, rec["target"], "error", details)
        raise
    svc.audit.append(ACTOR, rec["tenant"], action, rec["target"], rec.get("outcome", "ok"), rec["details"])


def cmd_keys_create(a: argparse.Namespace) -> int:
    groups = [g for g in (a.groups or "").split(",") if g.strip()]
    svc = _services()
    try:
        details = {"role": a.role, "groups": groups, "name": a.name}
        with _audited(svc, "key.create", a.tenant, "", details) as record:
            created = svc.keys.create(a.role, a.tenant, groups, a.name, created_by=ACTOR)
            record["target"] = created["id"]
    finally:
        svc.close()
    print("Store this key now: it is shown only once and cannot be recovered.", file=sys.stderr)
    scope = f"role {created['role']}, tenant {created['tenant']}, groups {','.join(created['groups']) or '-'}"
    _out(created, a.json, f"key {created['id']} created ({scope})\n{created['key']}")
    return 0


def cmd_keys_list(a: argparse.Namespace) -> int:
    svc = _services()
    try:
        keys = svc.keys.list(a.tenant)
    finally:
        svc.close()
    lines = [
        f"{k['id']}  {k['role']:<9} {k['tenant']:<16} {','.join(k['groups']) or '-':<20} "
        f"{'REVOKED' if k['revoked'] else 'active ':<7}  {k['created_at']}  {k['name']}"
        for k in keys
    ]
    _out({"keys": keys}, a.json, "\n".join(lines) or "(no keys)")
    return 0


def cmd_keys_revoke(a: argparse.Namespace) -> int:
    svc = _services()
    try:
        with _audited(svc, "key.revoke", "", a.key_id, {}) as record:
            key = svc.keys.revoke(a.key_id)
            record["tenant"] = key["tenant"]
    finally:
        svc.close()
    _out(key, a.json, f"key {key['id']} revoked (role {key['role']}, tenant {key['tenant']})")
    return 0


def cmd_audit_verify(a: argparse.Namespace) -> int:
    svc = _services()
    try:
        result, (head_id, head_hash) = svc.audit.verify(), svc.audit.head()
    finally:
        svc.close()
    data = {"ok": result.ok, "records": result.records, "first_bad_id": result.first_bad_id, "reason": result.reason}
    data["head"] = {"id": head_id, "hash": head_hash}
    if result.ok:
        text = f"audit chain ok: {result.records} record(s)"
    else:
        text = f"audit chain BROKEN at record {result.first_bad_id}: {result.reason} ({result.records} verified before)"
    _out(data, a.json, f"{text}\nhead: {head_id} {head_hash}")
    return 0 if result.ok else 1


def cmd_audit_query(a: argparse.Namespace) -> int:
    svc = _services()
    try:
        records = svc.audit.query(a.tenant, a.action, a.actor, a.since, a.until, a.limit)
    except ValueError as e:
        raise InvalidInputError(f"--since/--until must be ISO-8601 timestamps, --limit 1..10000: {e}", "since") from e
    finally:
        svc.close()
    lines = [
        f"{r['id']:>6}  {r['ts']}  {r['actor']:<14} {r['tenant'] or '-':<12} {r['action']:<24} {r['target']:<30} "
        f"{r['outcome']:<6} {json.dumps(r['details'], ensure_ascii=False)}"
        for r in records
    ]
    _out({"records": records}, a.json, "\n".join(lines) or "(no records)")
    return 0


def _summary(manifest: dict[str, Any]) -> str:
    index, db = manifest["index"], manifest["database"]
    rows = ", ".join(f"{t} {n}" for t, n in sorted(db["rows"].items()) if n) or "empty"
    return (
        f"index: {index['kind']}, {index['points']} point(s)\n"
        f"database: {db['backend']} ({db['format']}), {rows}\n"
        f"originals: {manifest['originals']} file(s)"
    )


def cmd_backup(a: argparse.Namespace) -> int:
    from app.backup import backup, read_manifest

    svc = _services()
    try:
        with _audited(svc, "backup", "", str(Path(a.dest).resolve()), {"db_format": a.db_format}) as record:
            path = backup(svc.settings, Path(a.dest), store=svc.store, db_format=a.db_format)
            record["target"] = str(path.resolve())
    finally:
        svc.close()
    manifest = read_manifest(path)
    data = {"path": str(path.resolve()), "size": path.stat().st_size} | manifest
    _out(data, a.json, f"backup written: {data['path']} ({data['size']} bytes)\n{_summary(manifest)}")
    return 0


def cmd_restore(a: argparse.Namespace) -> int:
    from app.backup import restore
    from app.core.settings import get_settings

    settings = get_settings()
    archive = Path(a.archive).resolve()
    manifest = restore(settings, archive)  # before any service opens the target's stores
    svc = _services()
    try:  # the restored chain goes on with this record
        details = {"created_at": manifest["created_at"], "index_points": manifest["index"]["points"]}
        svc.audit.append(ACTOR, "", "restore", str(archive), "ok", details)
    finally:
        svc.close()
    text = f"restored {archive} into {settings.data_dir} in {manifest['restored_in_s']} s\n{_summary(manifest)}"
    _out(manifest, a.json, text)
    return 0


def cmd_originals_rotate(a: argparse.Namespace) -> int:
    from app.adapters.crypto import CipherError, is_encrypted
    from app.adapters.originals import SIDECAR

    svc = _services()
    try:
        if svc.cipher is None:
            raise InvalidInputError("GROUNDED_ORIGINALS_KEYS is not set: no key to rotate to", "originals_keys")
        root = svc.settings.originals_dir
        counts: dict[str, Any] = {"rotated": 0, "current": 0, "plaintext": 0, "failed": []}
        with _audited(svc, "originals.rotate", "", str(root), {}) as record:
            files = sorted(root.rglob("*")) if root.is_dir() else []
            for path in (p for p in files if p.is_file() and not p.name.endswith(SIDECAR)):
                if path.name.startswith("."):  # a half-written temp file of an atomic replace
                    continue
                if not is_encrypted(path):  # stored before encryption was on; ingest reads it as it is
                    counts["plaintext"] += 1
                    continue
                try:
                    counts["rotated" if svc.cipher.rotate(path) else "current"] += 1
                except CipherError as e:
                    counts["failed"].append({"path": str(path), "reason": e.reason})
            record["details"] = counts | {"failed": len(counts["failed"])}
            record["outcome"] = "error" if counts["failed"] else "ok"
    finally:
        svc.close()
    for f in counts["failed"]:
        print(f"FAILED {f['path']}: {f['reason']}", file=sys.stderr)
    text = (
        f"{counts['rotated']} original(s) re-encrypted with the primary key, {counts['current']} already on it, "
        f"{counts['plaintext']} not encrypted, {len(counts['failed'])} failed"
    )
    _out(counts, a.json, text)
    return 1 if counts["failed"] else 0


def cmd_originals_keygen(a: argparse.Namespace) -> int:
    from app.adapters.crypto import generate_key

    key = generate_key()
    hint = (
        "put it first in GROUNDED_ORIGINALS_KEYS (new,old), restart the service, then run `grounded originals rotate`"
    )
    print(hint, file=sys.stderr)
    _out({"key": key}, a.json, key)
    return 0


def _command(sub: Any, name: str, func: Any, summary: str) -> argparse.ArgumentParser:
    s = sub.add_parser(name, help=summary)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=func)
    return s


def add_ops_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys: create, list, revoke").add_subparsers(dest="keys_cmd", required=True)
    s = _command(keys, "create", cmd_keys_create, "create a key (printed once: store it)")
    s.add_argument("--role", required=True, help="admin, editor, reader or evaluator")
    s.add_argument("--tenant", required=True)
    s.add_argument("--groups", help="ACL groups, comma-separated")
    s.add_argument("--name", default="")
    _command(keys, "list", cmd_keys_list, "keys (never their secrets)").add_argument("--tenant")
    _command(keys, "revoke", cmd_keys_revoke, "revoke a key by id").add_argument("key_id")
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    _command(audit, "verify", cmd_audit_verify, "check the hash chain (exit 1 when broken)")
    s = _command(audit, "query", cmd_audit_query, "records, newest first")
    for flag in ("--tenant", "--action", "--actor"):
        s.add_argument(flag)
    s.add_argument("--since", help="ISO-8601, inclusive")
    s.add_argument("--until", help="ISO-8601, exclusive")
    s.add_argument("--limit", type=int, default=100)
    s = _command(sub, "backup", cmd_backup, "archive the index, the database and the originals (tar.gz)")
    s.add_argument("dest", help="a folder, or a path ending in .tar.gz")
    s.add_argument("--db-format", choices=["auto", "json"], default="auto", help="json: portable across backends")
    s = _command(sub, "restore", cmd_restore, "restore an archive into an empty data dir and database")
    s.add_argument("archive")
    orig = sub.add_parser("originals", help="stored originals").add_subparsers(dest="originals_cmd", required=True)
    _command(orig, "rotate", cmd_originals_rotate, "re-encrypt stored originals with the first GROUNDED_ORIGINALS_KEYS")
    _command(orig, "keygen", cmd_originals_keygen, "print a new key for GROUNDED_ORIGINALS_KEYS")
