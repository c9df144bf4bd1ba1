"""nDCG@10 / recall / MRR on SciFact train queries for dense only, BM25 only and hybrid (same index, same run).

Needs the index from benchmarks/ingest_scifact.py. Runs `grounded eval retrieval` per mode in-process.

    .venv/bin/python benchmarks/retrieval_scifact.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from common import OUT, REPO, SCIFACT, require


def main() -> None:
    data_dir = require(OUT / "scifact")
    env = {**os.environ, "GROUNDED_DATA_DIR": str(data_dir)}
    rows = {}
    for mode in ("dense", "sparse", "hybrid", "rerank"):
        cmd = [
            sys.executable,
            "-m",
            "app.cli",
            "eval",
            "retrieval",
            "--collection",
            "scifact",
            "--queries",
            str(require(SCIFACT / "queries_train.jsonl")),
            "--qrels",
            str(require(SCIFACT / "qrels" / "train.tsv")),
            "--mode",
            mode,
            "--json",
        ]
        out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
        rows[mode] = json.loads(out)
        print(mode, json.dumps(rows[mode]), flush=True)
    print()
    print("| mode | nDCG@10 | recall@10 | recall@100 | MRR@10 | p50 ms | p95 ms | queries |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(
            f"| {mode} | {r['ndcg@10']} | {r['recall@10']} | {r['recall@100']} | {r['mrr@10']} | "
            f"{r['latency_ms_p50']} | {r['latency_ms_p95']} | {r['queries']} |"
        )


if __name__ == "__main__":
    main()
