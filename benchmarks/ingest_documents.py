"""Ingest every file of ../shared/data/documents (mixed formats, Chinese samples) with the isolated parser.

A fresh embedded service (real MiniLM), the pipeline's parser replaced by `IsolatedParser(UnstructuredParser())`,
the files uploaded as `--jobs` uploads that run side by side. Prints files/s, chunks/s, succeeded and failed
counts, failures by code with examples, the five slowest files to parse and peak RSS (this process by getrusage;
the parser children sampled from /proc, since they are the forkserver's children and getrusage never sees them),
then the per-file cost of the isolation. Writes bench-out/ingest_documents.json.

    .venv/bin/python benchmarks/ingest_documents.py [--jobs 1] [--timeout-s 120] [--memory-mb 2048]

`--jobs 1` is the service's default (one job worker); with 2 on 2 cores, parsing competes with embedding for CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from common import OUT, SHARED, peak_rss_mb, require, scifact_settings

from app.core.domain import ParsedDocument
from app.core.ports import Parser


class TimedParser:
    """Records the wall time and outcome of every parse, keyed by the stored path (names repeat across folders)."""

    def __init__(self, inner: Parser) -> None:
        self.inner = inner
        self.seconds: dict[str, tuple[str, float, str]] = {}
        self._lock = threading.Lock()

    def parse(self, path: str, filename: str) -> list[ParsedDocument]:
        t = time.perf_counter()
        outcome = "parsed"
        try:
            return self.inner.parse(path, filename)
        except Exception as e:
            outcome = getattr(e, "code", type(e).__name__)
            raise
        finally:
            with self._lock:
                self.seconds[path] = (filename, time.perf_counter() - t, outcome)


class RssSampler(threading.Thread):
    """Samples the resident memory of this process's descendants (the forkserver and the parser children)."""

    def __init__(self, every_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.every_s, self.peak_total_mb, self.peak_child_mb = every_s, 0.0, 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.every_s):
            rss = [_status_kb(pid, "VmHWM:") / 1024 for pid in _descendants(os.getpid())]
            self.peak_child_mb = max([self.peak_child_mb, *rss])
            self.peak_total_mb = max(self.peak_total_mb, _status_kb(os.getpid(), "VmRSS:") / 1024 + sum(rss))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry.name))
    found, todo = [], list(children[root])
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children[pid])
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith(key)), 0)
    except OSError:
        return 0


def ingest(svc, files: list[Path], jobs: int) -> tuple[list[dict], float]:
    """Upload the files as `jobs` uploads (largest first, dealt round robin), wait; returns the file entries."""
    from app.core.errors import UploadRejectedError
    from app.knowledge import Upload

    tenant = svc.settings.default_tenant
    svc.kb.create_collection(tenant, "documents", template="general")
    by_size = sorted(files, key=lambda p: -p.stat().st_size)
    entries: list[dict] = []
    job_ids = []
    t = time.perf_counter()
    for share in (by_size[i::jobs] for i in range(jobs)):
        handles = [open(f, "rb") for f in share]  # noqa: SIM115 - closed below
        try:
            result = svc.kb.upload(
                tenant, "documents", [Upload(f.name, h) for f, h in zip(share, handles, strict=True)]
            )
            job_ids.append(result.job_id)
        except UploadRejectedError as e:  # every file of this share failed the upload check
            entries += [{**r, "status": "failed", "chunks": 0} for r in e.rejections]
        finally:
            for h in handles:
                h.close()
    svc.runner.wait_idle()
    elapsed = time.perf_counter() - t
    for job_id in job_ids:
        entries += svc.kb.get_job(tenant, job_id)["files"]
    return entries, elapsed


def isolation_overhead_ms(rounds: int = 50) -> dict[str, float]:
    """Median cost of one parse in-process and through the isolation, on small files of three formats."""
    from statistics import median

    from app.adapters.isolated_parser import IsolatedParser
    from app.adapters.unstructured_parser import UnstructuredParser

    local, isolated = UnstructuredParser(), IsolatedParser(UnstructuredParser(), workers=1)
    local.warm_up()
    isolated.warm_up()
    out = {}
    for name in ("fake-text.txt", "fake-html.html", "handbook-1p.docx"):
        path = str(SHARED / "documents" / "mixed-formats" / name)
        times: dict[str, list[float]] = {"local": [], "isolated": []}
        for _ in range(rounds):
            for key, parser in (("local", local), ("isolated", isolated)):
                t = time.perf_counter()
                parser.parse(path, name)
                times[key].append((time.perf_counter() - t) * 1000)
        out[name] = round(median(times["isolated"]) - median(times["local"]), 2)
    isolated.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1, help="uploads run side by side (job workers, parser children)")
    ap.add_argument("--timeout-s", type=float, default=120)
    ap.add_argument("--memory-mb", type=int, default=2048)
    args = ap.parse_args()
    root = require(SHARED / "documents")
    files = sorted(p for p in root.rglob("*") if p.is_file())

    from app.adapters.isolated_parser import IsolatedParser
    from app.adapters.unstructured_parser import UnstructuredParser
    from app.container import build_services

    data_dir = Path(tempfile.mkdtemp(prefix="ingest-documents-"))
    settings = scifact_settings(data_dir).model_copy(update={"job_workers": args.jobs})
    svc = build_services(settings)
    svc.warm_up()
    current = svc.pipeline.parse.parser
    isolated = current if isinstance(current, IsolatedParser) else None
    isolated = isolated or IsolatedParser(UnstructuredParser(), args.timeout_s, args.memory_mb, workers=args.jobs)
    isolated.warm_up()
    timed = TimedParser(isolated)
    svc.pipeline.parse.parser = timed
    svc.runner.start()
    sampler = RssSampler()
    sampler.start()
    try:
        entries, elapsed = ingest(svc, files, args.jobs)
    finally:
        sampler.stop()
        isolated.close()
        svc.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    main_peak = peak_rss_mb()

    ok = [e for e in entries if e["status"] == "succeeded"]
    failed = [e for e in entries if e["status"] != "succeeded"]
    chunks = sum(int(e.get("chunks") or 0) for e in entries)
    by_code: dict[str, list[str]] = defaultdict(list)
    for e in failed:
        by_code[e.get("code") or "?"].append(f"{e['filename']}: {e.get('reason')}")
    slowest = sorted(timed.seconds.values(), key=lambda v: -v[1])[:5]
    result = {
        "files": len(entries),
        "succeeded": len(ok),
        "failed": len(failed),
        "chunks": chunks,
        "wall_s": round(elapsed, 1),
        "files_per_s": round(len(entries) / elapsed, 2),
        "chunks_per_s": round(chunks / elapsed, 1),
        "failures_by_code": {c: {"count": len(v), "examples": v[:2]} for c, v in sorted(by_code.items())},
        "all_failures": sorted(r for v in by_code.values() for r in v),
        "slowest_parse": [{"file": n, "s": round(s, 1), "outcome": o} for n, s, o in slowest],
        "peak_rss_mb": {
            "main": round(main_peak),
            "parser_child_max": round(sampler.peak_child_mb),
            "main_plus_children_sampled": round(sampler.peak_total_mb),
        },
        "limits": {"timeout_s": isolated.timeout_s, "memory_mb": isolated.memory_mb, "jobs": args.jobs},
    }
    result["isolation_overhead_ms"] = isolation_overhead_ms()
    _print(result)
    OUT.mkdir(exist_ok=True)
    (OUT / "ingest_documents.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))


def _print(r: dict) -> None:
    rows = [
        ("files", r["files"]),
        ("succeeded / failed", f"{r['succeeded']} / {r['failed']}"),
        ("chunks", r["chunks"]),
        ("wall", f"{r['wall_s']} s"),
        ("files/s", r["files_per_s"]),
        ("chunks/s", r["chunks_per_s"]),
        *((f"peak RSS {k}", f"{v} MB") for k, v in r["peak_rss_mb"].items()),
        *((f"isolation overhead {k}", f"{v} ms") for k, v in r["isolation_overhead_ms"].items()),
    ]
    for label, value in rows:
        print(f"{label:<40} {value}")
    print("\nfailures by code:")
    for code, v in r["failures_by_code"].items():
        print(f"  {code:<18} {v['count']:>4}  e.g. {v['examples'][0][:150]}")
    print("\nslowest to parse:")
    for s in r["slowest_parse"]:
        print(f"  {s['s']:>7.1f} s  {s['outcome']:<10} {s['file']}")


if __name__ == "__main__":
    main()
