"""Ingest the SciFact corpus end to end and compare with raw embedding throughput of the same chunks.

Prints chunks/s end to end, raw embedding chunks/s (same chunk texts, same model, same batch size, same run),
their ratio (target ≥ 0.8) and peak RSS. Leaves the index in bench-out/scifact for the retrieval benchmarks.

    .venv/bin/python benchmarks/ingest_scifact.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time

from common import OUT, SCIFACT, peak_rss_mb, require, scifact_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="only the first N corpus lines")
    ap.add_argument("--data-dir", default=str(OUT / "scifact"))
    args = ap.parse_args()
    corpus = require(SCIFACT / "corpus.jsonl")
    if args.limit:
        OUT.mkdir(exist_ok=True)
        small = OUT / f"corpus-{args.limit}.jsonl"
        with open(corpus) as f, open(small, "w") as out:
            for _ in range(args.limit):
                out.write(f.readline())
        corpus = small

    from app.cli import ingest_paths
    from app.container import build_services
    from app.core.filters import scope_filter

    data_dir = (
        OUT.joinpath(args.data_dir) if not args.data_dir.startswith("/") else __import__("pathlib").Path(args.data_dir)
    )
    shutil.rmtree(data_dir, ignore_errors=True)
    svc = build_services(scifact_settings(data_dir))
    svc.warm_up()
    svc.runner.start()
    svc.embedder.embed_batch(["warm-up"] * 4)

    t = time.perf_counter()
    job = ingest_paths(svc, "scifact", [str(corpus)], {}, quiet=True)
    e2e_s = time.perf_counter() - t
    chunks = job["counts"]["chunks"]
    assert job["status"] == "succeeded", job["files"]

    texts = [c.index_text for c in svc.store.list_chunks(scope_filter("default", "scifact", None, None), 10**6)]
    t = time.perf_counter()
    for i in range(0, len(texts), svc.settings.ingest.embed_batch_size * 8):
        svc.embedder.embed_batch(texts[i : i + svc.settings.ingest.embed_batch_size * 8])
    raw_s = time.perf_counter() - t
    timings = job["files"][0]["timings_ms"]
    svc.close()

    result = {
        "documents": job["counts"]["documents"],
        "chunks": chunks,
        "end_to_end_s": round(e2e_s, 1),
        "end_to_end_chunks_per_s": round(chunks / e2e_s, 1),
        "raw_embedding_chunks_per_s": round(len(texts) / raw_s, 1),
        "ratio": round((chunks / e2e_s) / (len(texts) / raw_s), 3),
        "stage_ms": timings,
        "peak_rss_mb": round(peak_rss_mb(), 0),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
