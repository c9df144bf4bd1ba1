"""`grounded ingest` and `grounded reindex`: upload files, follow the job with a progress bar, report failures."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.core.errors import InvalidInputError

TERMINAL = ("succeeded", "failed", "partial")


def _services() -> Any:
    from app.container import build_services
    from app.core.settings import get_settings

    svc = build_services(get_settings())
    svc.warm_up()
    svc.runner.start()
    return svc


def _collect(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            files.append(p)
        else:
            raise InvalidInputError(f"no such file or folder: {p}", "path")
    return files


def ingest_paths(
    svc: Any,
    collection: str,
    paths: list[str],
    meta: dict[str, Any],
    quiet: bool = False,
    embedder: str = "default",
    template: str | None = None,
    template_params: dict[str, Any] | None = None,
) -> dict:
    """Upload files/folders into a collection (created if missing), wait for the job, return it."""
    from app.core.errors import NotFoundError
    from app.knowledge import Upload

    tenant = svc.settings.default_tenant
    try:
        svc.kb.get_collection(tenant, collection)
    except NotFoundError:
        svc.kb.create_collection(tenant, collection, template=template or "general", embedder=embedder)
    files = _collect(paths)
    handles = [open(f, "rb") for f in files]  # noqa: SIM115 - closed below
    try:
        ups = [Upload(f.name, h) for f, h in zip(files, handles, strict=True)]
        result = svc.kb.upload(tenant, collection, ups, meta, template=template, template_params=template_params)
    finally:
        for h in handles:
            h.close()
    return follow(svc, result.job_id, quiet)


def follow(svc: Any, job_id: str, quiet: bool = False) -> dict:
    """Poll a job until it ends, drawing a progress bar on stderr; returns the final job."""
    last = ""
    while True:
        job = svc.kb.get_job(svc.settings.default_tenant, job_id)
        if not quiet:
            line = "\r" + _progress_line(job)
            if line != last:
                print(line, end="", file=sys.stderr, flush=True)
                last = line
        if job["status"] in TERMINAL:
            break
        time.sleep(0.3)
    if not quiet:
        print(file=sys.stderr)
    return job


def _progress_line(job: dict) -> str:
    files = job["files"]
    finished = sum(f["status"] in ("succeeded", "failed") for f in files)
    total = sum(int(f.get("documents_total") or 1) for f in files)
    done = sum(
        int(f.get("documents_total") or 1)
        if f["status"] in ("succeeded", "failed")
        else int(f.get("documents_done") or 0)
        for f in files
    )
    chunks = sum(int(f.get("chunks") or 0) for f in files)
    width = 30
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "-" * (width - filled)
    return f"[{bar}] {done}/{total} docs  {finished}/{len(files)} files  {chunks} chunks  {job['stage']:<9}"


def _params(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InvalidInputError(f"--template-params is not valid JSON: {e.msg}", "template_params") from e
    if not isinstance(value, dict):
        raise InvalidInputError("--template-params must be a JSON object", "template_params")
    return value


def _report(job: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps({k: v for k, v in job.items() if k != "payload"}, ensure_ascii=False, indent=2))
    else:
        c = job["counts"]
        print(
            f"job {job['id']}: {job['status']} — {c.get('files_succeeded', 0)} file(s) ok, "
            f"{c.get('files_failed', 0)} failed, {c.get('documents', 0)} document(s), {c.get('chunks', 0)} chunk(s)"
        )
        for f in job["files"]:
            if f["status"] == "failed":
                print(f"  FAILED {f['filename']}: [{f['code']}] {f['reason']}")
    return 0 if job["status"] == "succeeded" else 1


def cmd_ingest(a: argparse.Namespace) -> int:
    meta = {}
    for kv in a.meta or []:
        if "=" not in kv:
            raise InvalidInputError(f"--meta expects key=value, got {kv!r}", "meta")
        k, v = kv.split("=", 1)
        meta[k] = v
    params = _params(a.template_params)
    svc = _services()
    try:
        job = ingest_paths(svc, a.collection, a.paths, meta, a.json, a.embedder, a.template, params)
    finally:
        svc.close()
    return _report(job, a.json)


def cmd_reindex(a: argparse.Namespace) -> int:
    params = _params(a.template_params)
    svc = _services()
    try:
        job = svc.kb.reindex_collection(svc.settings.default_tenant, a.collection, a.template, params)
        job = follow(svc, job["id"], a.json)
    finally:
        svc.close()
    return _report(job, a.json)


def add_ingest_commands(sub: Any) -> None:
    s = sub.add_parser("ingest", help="ingest files, folders or .jsonl corpora and wait (progress bar on stderr)")
    s.add_argument("paths", nargs="+")
    s.add_argument("--collection", "-c", required=True)
    s.add_argument("--meta", action="append", metavar="KEY=VALUE")
    s.add_argument("--embedder", default="default", help="for a new collection: default (MiniLM) or multilingual")
    s.add_argument(
        "--template", help="chunk template (general, manual, book, laws, qa, table, paper, slides, email, auto)"
    )
    s.add_argument("--template-params", help="the template's parameters as JSON, e.g. '{\"chunk_size\": 600}'")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ingest)
    s = sub.add_parser("reindex", help="re-chunk and re-index a collection from its stored originals")
    s.add_argument("collection")
    s.add_argument("--template", help="new template (becomes the collection's default)")
    s.add_argument("--template-params")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_reindex)
