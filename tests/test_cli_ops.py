"""The operator commands of the `grounded` CLI (keys, audit, backup/restore, originals) as real subprocesses.

Each invocation starts a Python process (a few seconds): fixtures ingest once per module and the tests share them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.adapters.crypto import generate_key, key_id, parse_keys
from tests.conftest import DEMO_DIR, REPO

QUERY = "how many days of annual leave do employees get"


def grounded(data_dir: Path, *args: str, keys: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDED_")}
    env |= {"GROUNDED_DATA_DIR": str(data_dir), "GROUNDED_MODELS__EMBEDDER": "hash", "GROUNDED_ENV": "test"}
    if keys:
        env["GROUNDED_ORIGINALS_KEYS"] = ",".join(keys)
    cmd = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def ingest_demo(data_dir: Path, keys: list[str] | None = None) -> None:
    proc = grounded(data_dir, "ingest", str(DEMO_DIR), "--collection", "demo", "--json", keys=keys)
    assert as_json(proc)["status"] == "succeeded"


class TestKeys:
    def test_create_list_revoke_round_trip(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        proc = grounded(data, "keys", "create", "--role", "reader", "--tenant", "acme", "--groups", "hr,it", "--json")
        created = as_json(proc)
        secret = created["key"]
        assert secret.startswith(f"grk_{created['id']}_") and "shown only once" in proc.stderr
        assert (created["role"], created["tenant"], created["groups"]) == ("reader", "acme", ["hr", "it"])

        text = grounded(data, "keys", "create", "--role", "editor", "--tenant", "beta", "--name", "ci")
        assert text.returncode == 0, text.stderr
        other_id, other_secret = text.stdout.split()[1], text.stdout.strip().splitlines()[-1]
        assert other_secret.startswith(f"grk_{other_id}_")

        listed = grounded(data, "keys", "list")
        assert listed.returncode == 0 and created["id"] in listed.stdout and other_id in listed.stdout
        keys = as_json(grounded(data, "keys", "list", "--tenant", "acme", "--json"))["keys"]
        assert [k["id"] for k in keys] == [created["id"]] and keys[0]["revoked"] is False
        revoked = grounded(data, "keys", "revoke", created["id"])
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        keys = as_json(grounded(data, "keys", "list", "--json"))["keys"]
        assert {k["id"]: k["revoked"] for k in keys} == {created["id"]: True, other_id: False}
        for out in (listed.stdout, json.dumps(keys)):
            assert secret.split("_")[-1] not in out and other_secret.split("_")[-1] not in out and "grk_" not in out

        missing = grounded(data, "keys", "revoke", "nope")
        assert missing.returncode == 2 and "error: key not found: nope" in missing.stderr
        records = as_json(grounded(data, "audit", "query", "--actor", "cli", "--json"))["records"]
        assert [(r["action"], r["target"], r["outcome"]) for r in records] == [
            ("key.revoke", "nope", "error"),
            ("key.revoke", created["id"], "ok"),
            ("key.create", other_id, "ok"),
            ("key.create", created["id"], "ok"),
        ]
        assert all(secret not in json.dumps(r) for r in records)

    def test_bad_role_exits_2(self, tmp_path: Path) -> None:
        proc = grounded(tmp_path / "data", "keys", "create", "--role", "boss", "--tenant", "acme")
        assert proc.returncode == 2 and proc.stderr.startswith("error: unknown role 'boss'")


class TestAudit:
    def test_verify_ok_then_tampered(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        for tenant in ("acme", "beta"):
            assert grounded(data, "keys", "create", "--role", "reader", "--tenant", tenant).returncode == 0
        ok = grounded(data, "audit", "verify")
        assert ok.returncode == 0 and "audit chain ok: 2 record(s)" in ok.stdout
        head = as_json(grounded(data, "audit", "verify", "--json"))["head"]
        assert head["id"] == 2 and len(head["hash"]) == 64 and head["hash"] in ok.stdout

        with sqlite3.connect(data / "grounded.db") as db:
            db.execute("""UPDATE audit_log SET details='{"role": "admin"}' WHERE id=1""")
        broken = grounded(data, "audit", "verify")
        assert broken.returncode == 1 and "BROKEN at record 1: hash mismatch" in broken.stdout
        assert f"head: 2 {head['hash']}" in broken.stdout
        result = json.loads(grounded(data, "audit", "verify", "--json").stdout)
        assert (result["ok"], result["first_bad_id"], result["head"]) == (False, 1, head)
        assert result["reason"].startswith("hash mismatch")

    def test_query_filters_and_bad_timestamp(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        assert grounded(data, "keys", "create", "--role", "reader", "--tenant", "acme").returncode == 0
        records = as_json(grounded(data, "audit", "query", "--tenant", "acme", "--action", "key.create", "--json"))
        assert [(r["actor"], r["tenant"], r["outcome"]) for r in records["records"]] == [("cli", "acme", "ok")]
        later = as_json(grounded(data, "audit", "query", "--since", "2999-01-01T00:00:00Z", "--json"))
        assert later["records"] == []
        bad = grounded(data, "audit", "query", "--since", "yesterday")
        assert bad.returncode == 2 and bad.stderr.startswith("error: --since/--until must be ISO-8601")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("source") / "data"
    ingest_demo(data)
    return data


class TestBackupRestore:
    def test_round_trip_retrieves_the_same_top_chunk(self, source: Path, tmp_path: Path) -> None:
        before = as_json(grounded(source, "retrieve", QUERY, "-c", "demo", "--json"))["chunks"]
        made = as_json(grounded(source, "backup", str(tmp_path / "backups"), "--json"))
        archive = Path(made["path"])
        assert archive.is_file() and archive.parent == tmp_path / "backups" and made["size"] == archive.stat().st_size
        assert made["index"]["kind"] == "qdrant-edge" and made["index"]["points"] >= 3
        assert made["database"]["rows"]["documents"] == 3 and made["originals"] >= 3 and "members" not in made
        log = as_json(grounded(source, "audit", "query", "--action", "backup", "--json"))["records"]
        assert (log[0]["actor"], log[0]["target"], log[0]["outcome"]) == ("cli", str(archive), "ok")

        target = tmp_path / "restored"
        restored = as_json(grounded(target, "restore", str(archive), "--json"))
        assert restored["index"] == made["index"] and restored["restored_in_s"] >= 0
        after = as_json(grounded(target, "retrieve", QUERY, "-c", "demo", "--json"))["chunks"]
        assert before and after[0] == before[0] and [c["chunk_id"] for c in after] == [c["chunk_id"] for c in before]
        verified = as_json(grounded(target, "audit", "verify", "--json"))
        assert verified["ok"] and verified["records"] == made["database"]["rows"]["audit_log"] + 1  # + the restore
        last = as_json(grounded(target, "audit", "query", "--limit", "1", "--json"))["records"][0]
        assert (last["actor"], last["action"], last["target"]) == ("cli", "restore", str(archive))

    def test_restore_into_a_non_empty_dir_exits_2(self, source: Path, tmp_path: Path) -> None:
        made = grounded(source, "backup", str(tmp_path / "b.tar.gz"))
        assert made.returncode == 0 and "backup written: " in made.stdout and "index: qdrant-edge" in made.stdout
        proc = grounded(source, "restore", str(tmp_path / "b.tar.gz"))
        assert proc.returncode == 2 and proc.stderr.startswith("error: restore needs an empty target: ")
        assert "documents has 3 rows" in proc.stderr

    def test_not_a_backup_exits_2(self, tmp_path: Path) -> None:
        junk = tmp_path / "junk.tar.gz"
        junk.write_bytes(b"not a tarball")
        proc = grounded(tmp_path / "data", "restore", str(junk))
        assert proc.returncode == 2 and "is not a readable backup" in proc.stderr


class TestOriginals:
    def test_keygen_prints_a_key_parse_keys_accepts(self, tmp_path: Path) -> None:
        proc = grounded(tmp_path / "data", "originals", "keygen")
        assert proc.returncode == 0 and "GROUNDED_ORIGINALS_KEYS" in proc.stderr
        key = proc.stdout.strip()
        other = as_json(grounded(tmp_path / "data", "originals", "keygen", "--json"))["key"]
        assert len(parse_keys(f"{key},{other}")) == 2 and key != other

    def test_rotate_with_two_keys(self, tmp_path: Path) -> None:
        data, old, new = tmp_path / "data", generate_key(), generate_key()
        ingest_demo(data, keys=[old])
        stored = [p for p in (data / "originals").rglob("*") if p.is_file() and not p.name.endswith(".upload.json")]
        assert len(stored) == 3 and all(p.read_bytes().startswith(b"GRNDENC") for p in stored)

        counts = as_json(grounded(data, "originals", "rotate", "--json", keys=[new, old]))
        assert counts == {"rotated": 3, "current": 0, "plaintext": 0, "failed": []}
        new_id = key_id(parse_keys(new)[0])
        assert all(p.read_bytes()[8:16] == new_id for p in stored)  # the header names the new key
        again = grounded(data, "originals", "rotate", keys=[new, old])
        assert (
            again.returncode == 0 and "0 original(s) re-encrypted with the primary key, 3 already on it" in again.stdout
        )
        reindexed = as_json(grounded(data, "reindex", "demo", "--json", keys=[new]))  # the old key is no longer needed
        assert reindexed["status"] == "succeeded" and reindexed["counts"]["documents"] == 3

        stale = grounded(data, "originals", "rotate", keys=[old])
        assert stale.returncode == 1 and stale.stderr.count("FAILED ") == 3 and "3 failed" in stale.stdout
        records = as_json(grounded(data, "audit", "query", "--action", "originals.rotate", "--json"))["records"]
        assert [(r["outcome"], r["details"]["rotated"], r["details"]["failed"]) for r in records] == [
            ("error", 0, 3),
            ("ok", 0, 0),
            ("ok", 3, 0),
        ]
        unset = grounded(data, "originals", "rotate")
        assert unset.returncode == 2 and "error: GROUNDED_ORIGINALS_KEYS is not set" in unset.stderr
