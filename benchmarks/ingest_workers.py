"""SciFact ingestion through each runner: the in-process runner (1 and 2 threads) and Celery worker processes on a
real Redis broker with the metadata in a real PostgreSQL (1 and 2 workers), against raw embedding of the same chunks.

The corpus is split into shards (one file each) so that a job has several tasks to spread. Every run starts from an
empty index; a Celery run is timed from the upload to the job's end with the workers already up (model loaded).
No Qdrant server can run here, so each Celery worker owns an embedded qdrant-edge shard: with 2 workers the corpus
lands in two shards (the throughput is what is measured; a real deployment points both at one Qdrant server).

    .venv/bin/python benchmarks/ingest_workers.py [--limit 2000] [--shards 8] [--runs inproc1,inproc2,celery1,celery2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from common import OUT, REPO, SCIFACT, peak_rss_mb, require

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANT = "default"


def shards(corpus: Path, limit: int, n: int, out: Path) -> list[tuple[str, bytes]]:
    lines = corpus.read_text().splitlines()[: limit or None]
    per = -(-len(lines) // n)
    return [(f"scifact-{i:02d}.jsonl", "\n".join(lines[i * per : (i + 1) * per]).encode()) for i in range(n)]


def _wait(svc, job_id: str, timeout: float = 3600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = svc.kb.get_job(TENANT, job_id)
        if job["status"] in ("succeeded", "failed", "partial"):
            return job
        time.sleep(0.2)
    raise SystemExit(f"job {job_id} did not finish")


def ingest(svc, files: list[tuple[str, bytes]]) -> tuple[dict, float]:
    from app.knowledge import Upload

    svc.kb.create_collection(TENANT, "scifact")
    t = time.perf_counter()
    job_id = svc.kb.upload(TENANT, "scifact", [Upload(n, io.BytesIO(b)) for n, b in files]).job_id
    job = _wait(svc, job_id)
    elapsed = time.perf_counter() - t
    assert job["status"] == "succeeded", job["files"]
    return job, elapsed


def run_inprocess(files: list[tuple[str, bytes]], threads: int, base: Path) -> dict:
    from app.container import build_services
    from app.core.filters import scope_filter
    from app.core.settings import Settings

    svc = build_services(Settings(data_dir=base / f"inproc{threads}", env="test", job_workers=threads))
    svc.warm_up()
    svc.runner.start()
    svc.embedder.embed_batch(["warm-up"] * 4)
    job, elapsed = ingest(svc, files)
    texts = [c.index_text for c in svc.store.list_chunks(scope_filter(TENANT, "scifact", None, None), 10**6)]
    raw = None
    if threads == 1:  # raw embedding of the very same chunk texts, same model and batch size, same process
        t = time.perf_counter()
        for i in range(0, len(texts), 128):
            svc.embedder.embed_batch(texts[i : i + 128])
        raw = len(texts) / (time.perf_counter() - t)
    svc.close()
    return {"chunks": job["counts"]["chunks"], "seconds": elapsed, "raw_chunks_per_s": raw, "stage_ms": _stages(job)}


def _stages(job: dict) -> dict[str, float]:
    """Summed per-stage time over the job's files (ms)."""
    out: dict[str, float] = {}
    for f in job["files"]:
        for k, v in (f.get("timings_ms") or {}).items():
            out[k] = round(out.get(k, 0) + v)
    return out


def _fresh_database() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(PG_ADMIN).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    name = f"grounded_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def run_celery(files: list[tuple[str, bytes]], workers: int, base: Path) -> dict:
    import redis

    from app.container import build_services
    from app.core.settings import Settings

    redis.Redis.from_url(REDIS_URL).flushdb()
    db = _fresh_database()
    root = base / f"celery{workers}"
    common = {
        "GROUNDED_BROKER_URL": REDIS_URL,
        "GROUNDED_DATABASE_URL": db,
        "GROUNDED_ORIGINALS_PATH": str(root / "originals"),
        "GROUNDED_ENV": "test",
        # Share the 2 cores: one torch thread per worker when there are two.
        "GROUNDED_MODELS__TORCH_THREADS": str(max(1, (os.cpu_count() or 2) // workers)),
    }
    procs = []
    for w in range(workers):
        env = {**os.environ, **common, "GROUNDED_DATA_DIR": str(root / f"worker{w}")}
        cmd = [sys.executable, "-m", "celery", "-A", "ingest.celery_app", "worker", "-Q", "ingest", "-P", "solo"]
        cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench{w}@%h"]
        log = open(root.parent / f"celery{workers}-w{w}.log", "wb")  # noqa: SIM115 - lives as long as the worker
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    settings = Settings(
        data_dir=root / "api", env="test", broker_url=REDIS_URL, database_url=db, originals_path=root / "originals"
    )
    svc = build_services(settings)
    try:
        # Warm the workers: one tiny job each loads the model before the clock starts.
        svc.kb.create_collection(TENANT, "warm")
        from app.knowledge import Upload

        warm = [Upload(f"w{i}.txt", io.BytesIO(b"warm up the model")) for i in range(workers * 2)]
        _wait(svc, svc.kb.upload(TENANT, "warm", warm).job_id, timeout=300)
        job, elapsed = ingest(svc, files)
    finally:
        svc.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=120)
    return {"chunks": job["counts"]["chunks"], "seconds": elapsed, "raw_chunks_per_s": None, "stage_ms": _stages(job)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2000, help="first N SciFact documents (0 = all 5,183)")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--runs", default="inproc1,inproc2,celery1,celery2")
    args = ap.parse_args()
    base = OUT / "ingest-workers"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    files = shards(require(SCIFACT / "corpus.jsonl"), args.limit, args.shards, base)
    results: dict[str, dict] = {}
    for run in args.runs.split(","):
        kind, n = run[:-1], int(run[-1])
        results[run] = run_inprocess(files, n, base) if kind == "inproc" else run_celery(files, n, base)
        r = results[run]
        r["chunks_per_s"] = round(r["chunks"] / r["seconds"], 1)
        print(f"{run:<9} {r['chunks']} chunks in {r['seconds']:.1f} s = {r['chunks_per_s']} chunks/s", flush=True)
    raw = next((r["raw_chunks_per_s"] for r in results.values() if r["raw_chunks_per_s"]), None)
    summary = {
        "documents": args.limit or 5183,
        "shards": args.shards,
        "raw_embedding_chunks_per_s": round(raw, 1) if raw else None,
        "runs": {
            k: {"chunks_per_s": v["chunks_per_s"], "seconds": round(v["seconds"], 1), "stage_ms": v["stage_ms"]}
            for k, v in results.items()
        },
        "ratio_to_raw": {k: round(v["chunks_per_s"] / raw, 3) for k, v in results.items()} if raw else None,
        "peak_rss_mb_bench_process": round(peak_rss_mb()),
    }
    (OUT / "ingest_workers.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
