"""`grounded faq list|add|update|delete|import|history|restore|match`: the standard Q&A library of the default tenant.

Thin: parse, call FaqService, print. Changes are recorded in the audit log with actor "cli", like the other operator
commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli_ops import ACTOR, _audited, _command, _out, _services
from app.core.errors import InvalidInputError
from app.faq import FaqImportError


def _run(a: argparse.Namespace, work: Callable[[Any, Any, str], tuple[Any, str]]) -> int:
    """Build the services, check the collection (when given) and the library, run `work`, print its result."""
    svc = _services()
    try:
        if svc.faq is None:
            raise InvalidInputError("the FAQ library is disabled (GROUNDED_ANSWER__FAQ=false)", "answer.faq")
        tenant = svc.settings.default_tenant
        if getattr(a, "collection", None):
            svc.kb.get_collection(tenant, a.collection)
        data, text = work(svc, svc.faq, tenant)
    finally:
        svc.close()
    _out(data, a.json, text)
    return 0


def _line(e: dict[str, Any]) -> str:
    state = "" if e["active"] else "  (inactive)"
    state += "  (deleted)" if e["deleted"] else ""
    return f"{e['id']}  v{e['version']:<3} hits={e['hits']:<5} {e['question']}{state}"


def _tags(raw: str | None) -> list[str] | None:
    return None if raw is None else [t.strip() for t in raw.split(",") if t.strip()]


def cmd_list(a: argparse.Namespace) -> int:
    def work(svc: Any, faq: Any, tenant: str) -> tuple[Any, str]:
        page = faq.list(tenant, a.collection, a.limit, a.offset, a.include_deleted)
        lines = [_line(e) for e in page["entries"]]
        return page, "\n".join(lines + [f"({page['total']} in all)"]) if lines else "(no entries)"

    return _run(a, work)


def cmd_add(a: argparse.Namespace) -> int:
    def work(svc: Any, faq: Any, tenant: str) -> tuple[Any, str]:
        with _audited(svc, "faq.create", tenant, a.collection, {"question": a.question}) as record:
            entry = faq.create(
                tenant, a.collection, a.question, a.answer, a.alt or [], _tags(a.tags) or [], not a.inactive, ACTOR
            )
            record["target"] = entry["id"]
        return entry, f"created {_line(entry)}"

    return _run(a, work)


def cmd_update(a: argparse.Namespace) -> int:
    changes = {"question": a.question, "answer": a.answer, "alt_questions": a.alt, "tags": _tags(a.tags)}
    changes["active"] = True if a.active else False if a.inactive else None
    if all(v is None for v in changes.values()):
        raise InvalidInputError("nothing to update: give --question, --answer, --alt, --tags, --active or --inactive")

    def work(svc: Any, faq: Any, tenant: str) -> tuple[Any, str]:
        details = {k: v for k, v in changes.items() if v is not None and k != "answer"}
        with _audited(svc, "faq.update", tenant, a.entry_id, details):
            entry = faq.update(tenant, a.entry_id, **changes, expected_version=a.expected_version, actor=ACTOR)
        return entry, f"updated {_line(entry)}"

    return _run(a, work)


def cmd_delete(a: argparse.Namespace) -> int:
    def work(svc: Any, faq: Any, tenant: str) -> tuple[Any, str]:
        with _audited(svc, "faq.delete", tenant, a.entry_id, {}):
            entry = faq.delete(tenant, a.entry_id, a.expected_version, ACTOR)
        return entry, f"deleted {_line(entry)}\n(restore with: grounded faq restore {entry['id']} VERSION)"

    return _run(a, work)


def cmd_restore(a: argparse.Namespace) -> int:
    def work(svc: Any, faq: Any, tenant: str) -> tuple[Any, str]:
        with _audited(svc, "faq.restore", tenant, a.entry_id, {"version": a.version}):
            entry = faq.restore(tenant, a.entry_id, a.version, a.expected_version, ACTOR)
        return entry, f"restored version {a.version} as {_line(entry)}"

    return _run(a, work)


def cmd_history(a: argparse.Namespace) -> int:
    def work(svc: Any, faq: Any, tenant: str) -> tuple[Any, str]:
        versions = faq.versions(tenant, a.entry_id)
        lines = [
            f"v{v['version']:<3} {v['kind']:<8} {v['changed_at']}  {v['changed_by'] or '-':<14} {v['question']}"
            for v in versions
        ]
        return {"id": a.entry_id, "versions": versions}, "\n".join(lines)

    return _run(a, work)


def cmd_import(a: argparse.Namespace) -> int:
    path = Path(a.file)
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}", "file")
    data = path.read_bytes()

    def work(svc: Any, faq: Any, tenant: str) -> tuple[Any, str]:
        with _audited(svc, "faq.import", tenant, a.collection, {"file": path.name, "mode": a.mode}) as record:
            result = faq.import_file(tenant, a.collection, data, path.name, a.mode, a.format, ACTOR)
            record["details"] |= {k: result[k] for k in ("created", "updated", "unchanged", "deleted")}
        text = (
            f"imported {result['total']} row(s) into {a.collection}: {result['created']} created, "
            f"{result['updated']} updated, {result['unchanged']} unchanged, {result['deleted']} deleted"
        )
        if result["ignored_columns"]:
            text += f"\nignored columns: {', '.join(result['ignored_columns'])}"
        return {k: v for k, v in result.items() if k != "ids"}, text

    try:
        return _run(a, work)
    except FaqImportError as e:
        print(f"error: {e.total_rows} row(s) read, nothing imported:", file=sys.stderr)
        for err in e.errors:
            field = f" [{err['field']}]" if err["field"] else ""
            print(f"  row {err['row']}{field}: {err['error']}", file=sys.stderr)
        return 2


def cmd_match(a: argparse.Namespace) -> int:
    def work(svc: Any, faq: Any, tenant: str) -> tuple[Any, str]:
        found = faq.match(tenant, a.collection, a.question)
        near = faq.candidates(tenant, a.collection, a.question)
        data = {
            "match": _match(found) if found else None,
            "threshold": faq.threshold,
            "candidates": [_match(c) for c in near],
        }
        head = f"match: {found.question}  (score {found.score:.3f})\n{found.answer}" if found else "no match"
        rows = [f"  {c.score:.3f}  sem={c.semantic:.3f} lex={c.lexical:.3f}  {c.question}" for c in near]
        return data, "\n".join([head, f"candidates (threshold {faq.threshold}):", *rows])

    return _run(a, work)


def _match(m: Any) -> dict[str, Any]:
    from app.api.faq_schemas import faq_match_out

    return faq_match_out(m)


def add_faq_commands(sub: Any) -> None:
    faq = sub.add_parser("faq", help="the standard Q&A library (approved answers served before retrieval)")
    cmds = faq.add_subparsers(dest="faq_cmd", required=True)
    s = _command(cmds, "list", cmd_list, "entries of a collection")
    s.add_argument("--collection", "-c", required=True)
    s.add_argument("--limit", type=int, default=100)
    s.add_argument("--offset", type=int, default=0)
    s.add_argument("--include-deleted", action="store_true")
    s = _command(cmds, "add", cmd_add, "add an entry")
    s.add_argument("--collection", "-c", required=True)
    s.add_argument("--question", "-q", required=True)
    s.add_argument("--answer", "-a", required=True)
    s.add_argument("--alt", action="append", help="an alternative phrasing (repeatable)")
    s.add_argument("--tags", help="comma-separated")
    s.add_argument("--inactive", action="store_true", help="store it, but do not match it yet")
    s = _command(cmds, "update", cmd_update, "change an entry (its version goes up by one)")
    s.add_argument("entry_id")
    s.add_argument("--question", "-q")
    s.add_argument("--answer", "-a")
    s.add_argument("--alt", action="append", help="an alternative phrasing (repeatable; replaces the list)")
    s.add_argument("--tags", help="comma-separated (replaces the list)")
    state = s.add_mutually_exclusive_group()
    state.add_argument("--active", action="store_true")
    state.add_argument("--inactive", action="store_true")
    s.add_argument("--expected-version", type=int, help="fail unless the entry is at this version")
    s = _command(cmds, "delete", cmd_delete, "delete an entry (history kept)")
    s.add_argument("entry_id")
    s.add_argument("--expected-version", type=int)
    s = _command(cmds, "import", cmd_import, "import a CSV or JSONL file (all rows or none)")
    s.add_argument("file")
    s.add_argument("--collection", "-c", required=True)
    s.add_argument("--mode", choices=["upsert", "replace"], default="upsert", help="replace: delete entries not in it")
    s.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file name")
    s = _command(cmds, "history", cmd_history, "every version of an entry")
    s.add_argument("entry_id")
    s = _command(cmds, "restore", cmd_restore, "make an earlier version current again")
    s.add_argument("entry_id")
    s.add_argument("version", type=int)
    s.add_argument("--expected-version", type=int)
    s = _command(cmds, "match", cmd_match, "what the library answers for a question, with the best candidates")
    s.add_argument("question")
    s.add_argument("--collection", "-c", required=True)
