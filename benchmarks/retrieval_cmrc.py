"""Chinese retrieval on the CMRC2018 trial set: each question should retrieve the passage it was asked about.

Converts the SQuAD-layout file into a BEIR corpus/queries/qrels under bench-out/cmrc/, ingests the corpus with
`ingest_paths` into a fresh data dir per collection embedder (bench-out/cmrc-index/<embedder>: "default" is
MiniLM, "multilingual" is USE-multilingual), then evaluates dense, BM25 and hybrid retrieval (plus hybrid with the
relevance floor off) with `eval.retrieval.evaluate` (target: recall@5 ≥ 0.95). recall@5 is computed here from the
same ranked lists, so evaluate()'s output keys stay as they are (tests pin that key set).

    .venv/bin/python benchmarks/retrieval_cmrc.py [--embedder default,multilingual] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from common import OUT, SHARED, require

CMRC = SHARED / "retrieval" / "cmrc2018" / "cmrc2018_trial_squad.json"
COLLECTION = "cmrc"
# hybrid_nofloor: hybrid with the relevance floor off, to tell the floor's effect from the fusion's.
MODES = ("dense", "sparse", "hybrid", "hybrid_nofloor")
# Collection embedders (`embedder` at collection creation); the names map onto them.
ALIASES = {"minilm": "default", "use": "multilingual"}


def to_beir(src: Path, dest: Path) -> tuple[Path, Path, Path, int]:
    """SQuAD layout → BEIR corpus.jsonl (`_id` = paragraph id), queries.jsonl and qrels.tsv (one passage each)."""
    dest.mkdir(parents=True, exist_ok=True)
    data = json.loads(src.read_text(encoding="utf-8"))["data"]
    corpus, queries, qrels = dest / "corpus.jsonl", dest / "queries.jsonl", dest / "qrels.tsv"
    n_passages = 0
    with open(corpus, "w", encoding="utf-8") as c, open(queries, "w", encoding="utf-8") as q, open(qrels, "w") as r:
        r.write("query-id\tcorpus-id\tscore\n")
        for article in data:
            for i, para in enumerate(article["paragraphs"]):
                pid = str(para.get("id") or f"{article['id']}_{i}")
                row = {"_id": pid, "title": article.get("title", ""), "text": para["context"]}
                c.write(json.dumps(row, ensure_ascii=False) + "\n")
                n_passages += 1
                for qa in para["qas"]:
                    q.write(json.dumps({"_id": qa["id"], "text": qa["question"]}, ensure_ascii=False) + "\n")
                    r.write(f"{qa['id']}\t{pid}\t1\n")
    return corpus, queries, qrels, n_passages


def run_embedder(name: str, corpus: Path, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict | None:
    """Ingest into a collection that uses the named embedder, evaluate all modes; None (with a printed note)
    when the service does not offer that embedder."""
    from app.cli import ingest_paths
    from app.container import build_services
    from app.core.domain import Query
    from app.core.settings import Settings
    from eval.retrieval import dedupe_documents, evaluate, recall_at_k
    from retrievers.hybrid import RetrievalMode

    name = ALIASES.get(name, name)
    data_dir = OUT / "cmrc-index" / name
    shutil.rmtree(data_dir, ignore_errors=True)
    svc = build_services(Settings(data_dir=data_dir, env="test"))
    offered = tuple(getattr(svc.kb, "embedder_names", ("default",)))
    if name not in offered:
        print(f"note: embedder {name!r} is not offered here ({', '.join(offered)}), row skipped", file=sys.stderr)
        svc.close()
        return None
    svc.warm_up()
    svc.runner.start()
    try:
        t = time.perf_counter()
        job = ingest_paths(svc, COLLECTION, [str(corpus)], {}, quiet=True, embedder=name)
        ingest_s = time.perf_counter() - t
        if job["status"] != "succeeded":
            raise SystemExit(f"ingest failed: {job['files']}")
        out: dict = {"embedder": name, "chunks": job["counts"]["chunks"], "ingest_s": round(ingest_s, 1), "modes": {}}
        for mode in MODES:
            ranked: dict[str, list[str]] = {}
            dropped = [0]

            def search(text: str, mode: str = mode, ranked: dict = ranked, dropped: list = dropped) -> list[str]:
                q = Query(text, COLLECTION, "default", top_k=100, embedder=name)
                r = svc.retriever.run(q, mode=RetrievalMode(mode.split("_")[0]), floor=mode != "hybrid_nofloor")
                ids = [c.chunk.external_id for c in r.chunks]
                ranked[text] = ids
                dropped[0] += r.dropped_below_floor
                return ids

            metrics = evaluate(search, queries, qrels)
            judged = [(qid, text) for qid, text in queries.items() if qid in qrels]
            r5 = sum(recall_at_k(dedupe_documents(ranked[t]), qrels[qid], 5) for qid, t in judged) / len(judged)
            metrics["recall@5"] = round(r5, 4)
            metrics["dropped_below_floor_per_query"] = round(dropped[0] / len(judged), 2)
            out["modes"][mode] = metrics
            if mode == "dense" and metrics["recall@100"] == 0:
                out["warning"] = f"dense leg found nothing: chunks lack the {name!r} embedder's vector (ingest path?)"
                print(f"warning: {out['warning']}", file=sys.stderr)
            print(name, mode, json.dumps(metrics), file=sys.stderr, flush=True)
        return out
    finally:
        svc.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--embedder", default="default,multilingual", help="comma-separated collection embedders")
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N questions")
    args = ap.parse_args()
    corpus, qpath, rpath, n_passages = to_beir(require(CMRC), OUT / "cmrc")

    from eval.retrieval import load_qrels, load_queries

    queries, qrels = load_queries(qpath), load_qrels(rpath)
    if args.limit:
        queries = dict(list(queries.items())[: args.limit])
    t0 = time.perf_counter()
    results = [r for name in args.embedder.split(",") if (r := run_embedder(name.strip(), corpus, queries, qrels))]
    summary = {
        "dataset": "cmrc2018_trial",
        "passages": n_passages,
        "queries": len(queries),
        "target_recall@5": 0.95,
        "wall_s": round(time.perf_counter() - t0, 1),
        "results": results,
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    print()
    print("| embedder | mode | recall@5 | MRR@10 | nDCG@10 | recall@10 | recall@100 | p50 ms | p95 ms | queries |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for mode, m in r["modes"].items():
            print(
                f"| {r['embedder']} | {mode} | {m['recall@5']} | {m['mrr@10']} | {m['ndcg@10']} | {m['recall@10']} | "
                f"{m['recall@100']} | {m['latency_ms_p50']} | {m['latency_ms_p95']} | {m['queries']} |"
            )


if __name__ == "__main__":
    main()
