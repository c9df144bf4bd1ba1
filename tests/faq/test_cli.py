"""`grounded faq ...` in-process (the same parser and services as the installed command), hash embedder."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.core.settings import get_settings


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator:
    for key in [k for k in os.environ if k.startswith("GROUNDED_")]:
        monkeypatch.delenv(key)
    env = {"DATA_DIR": str(tmp_path / "data"), "MODELS__EMBEDDER": "hash", "ENV": "test"}
    env |= {"INGEST__ISOLATE_PARSER": "false", "ANSWER__VERIFIER": "none"}
    for key, value in env.items():
        monkeypatch.setenv(f"GROUNDED_{key}", value)
    get_settings.cache_clear()
    from app.container import build_services

    svc = build_services(get_settings())
    svc.kb.create_collection(svc.settings.default_tenant, "hr")
    svc.close()

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["faq", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    get_settings.cache_clear()


def test_add_list_update_history_restore_delete(cli) -> None:
    args = ["-c", "hr", "-q", "Is overtime paid?", "-a", "Time off in lieu.", "--alt", "Overtime pay?"]
    code, out, _ = cli("add", *args, "--tags", "pay,time", "--json")
    entry = json.loads(out)
    assert code == 0 and entry["alt_questions"] == ["Overtime pay?"] and entry["tags"] == ["pay", "time"]
    code, out, _ = cli("update", entry["id"], "-a", "Paid at 125%.", "--expected-version", "1")
    assert code == 0 and "v2" in out
    code, _, err = cli("update", entry["id"], "-a", "Stale.", "--expected-version", "1")
    assert code == 2 and "version 2, not 1" in err
    code, out, _ = cli("list", "-c", "hr")
    assert code == 0 and "Is overtime paid?" in out and "(1 in all)" in out
    code, out, _ = cli("match", "is overtime paid", "-c", "hr", "--json")
    assert code == 0 and json.loads(out)["match"]["answer"] == "Paid at 125%."
    code, out, _ = cli("restore", entry["id"], "1")
    assert code == 0 and "v3" in out
    code, out, _ = cli("history", entry["id"], "--json")
    assert [v["kind"] for v in json.loads(out)["versions"]] == ["create", "update", "restore"]
    assert json.loads(out)["versions"][0]["changed_by"] == "cli"
    code, out, _ = cli("delete", entry["id"])
    assert code == 0 and "restore with" in out
    code, out, _ = cli("match", "Is overtime paid?", "-c", "hr")
    assert code == 0 and out.startswith("no match")


def test_import_all_or_nothing(cli, tmp_path: Path) -> None:
    good = tmp_path / "faq.csv"
    good.write_text("问题,答案,相似问题,备注\n年假有多少天？,15天。,年假天数|每年几天年假,x\n", encoding="utf-8")
    code, out, _ = cli("import", str(good), "-c", "hr")
    assert code == 0 and "1 created" in out and "ignored columns: 备注" in out
    bad = tmp_path / "faq.jsonl"
    bad.write_text('{"question": "Q?", "answer": "A"}\n{"question": "Q2?"}\n', encoding="utf-8")
    code, _, err = cli("import", str(bad), "-c", "hr", "--mode", "replace")
    assert code == 2 and "nothing imported" in err and "row 2 [answer]" in err
    code, out, _ = cli("list", "-c", "hr", "--json")
    assert [e["question"] for e in json.loads(out)["entries"]] == ["年假有多少天？"]


def test_errors(cli, tmp_path: Path) -> None:
    assert cli("list", "-c", "nope")[0] == 2
    assert cli("import", str(tmp_path / "missing.csv"), "-c", "hr")[0] == 2
    assert cli("update", "some-id")[0] == 2
    code, _, err = cli("history", "no-such-id")
    assert code == 2 and "not found" in err
