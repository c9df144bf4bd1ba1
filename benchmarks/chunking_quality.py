"""Chunking quality: collections ingested with the `auto` template against the same content ingested with `general`.

Every arm is a fresh service (`app.container.build_services`) on its own temporary data dir, so that no BM25
statistics are shared between arms. Content goes in through `kb.create_collection(..., template=T)` and
`kb.upload` (one job, polled until it ends); the two arms of a comparison differ only in the template.

1. "Templates must not lose quality where they do not apply" (BEIR-style retrieval, judged per document):
   - SciFact (`default` embedder, MiniLM): the train queries and qrels (the test qrels are not in the data) over a
     corpus subset: every judged document plus the first other documents in file order up to `--scifact-docs`
     (ingest runs at ~25 chunks/s here; the whole corpus is ~12,500 chunks per arm). Absolute scores are higher than
     on the full corpus; the auto − general delta is the figure.
   - CMRC2018 trial (`multilingual` embedder): all 256 passages, question → its passage (as retrieval_cmrc.py).
   Queries go through `kb.retrieve(..., top_k=--depth)`, the service's default path (intent plan, hybrid, post-
   filters); chunk hits map to document ids, each document at its best rank; nDCG@10, recall@10 and MRR@10 come
   from `eval.retrieval.evaluate` (the reranker is the service default: none). What `auto` chose per document is
   counted from the stored documents, and a hash of every arm's (document, span, index text) tells whether the two
   arms indexed the same chunks. Identical chunks can still rank a little differently: chunk ids include the
   document version hash, which includes the template name, and ids break ties in the fused (RRF) score.

2. Where a template should win: FAQ tables. The real issue tables langchain-ChatGLM_open.csv and _closed.csv
   (zh-samples; columns title → detail) are uploaded together. Every row with a question and an answer is a
   query, except questions that occur more than once across the tables (no single right row). The ground truth
   comes from the parsed table text, not from any template: the span from the row's question cell to its answer
   cell. A retrieved chunk is relevant when its span covers that whole span, i.e. it holds the question and the
   answer (a `general` chunk holding several rows counts as a hit; one that cuts the row does not). Two query sets:
   - verbatim: the stored question as is. An upper bound: the `qa` template indexes that exact text.
   - reworded: a fixed, deterministic light rewording (chunking_sets.reword: NFKC, leading "[BUG]"-style tags,
     politeness fillers and quote marks removed, only the longest clause kept), fixed before any retrieval was
     run and not tuned afterwards. "reworded (changed)" keeps the queries whose words actually changed.
   Metrics, with `svc.retrieval.run` and one fixed plan for both arms (factual, top 10, per-document cap 10: both
   tables are single documents, and the default cap of 3 chunks per document would cut every list to 3): hit@1,
   recall@5 (one relevant row, so hit@5) and MRR@10, plus the mean characters of the top-5 chunks (what a hit costs
   in context: a `general` chunk carries several rows). "served hit@5" is the plain `kb.retrieve(top_k=5)` path
   with the plan its intent router picks (per-document cap 3; neighbours it adds count). "rows intact" is the
   share of query rows that some stored chunk holds whole. Run per embedder (`--faq-embedders`). A third arm,
   `table` (rows never split, header on every chunk; `--faq-templates`), tells a win of the Q&A structure from a
   win of merely keeping rows whole.

    .venv/bin/python benchmarks/chunking_quality.py [--sets scifact,cmrc,faq] [--scifact-docs 1500]
        [--scifact-queries 0] [--cmrc-queries 0] [--depth 30] [--faq-embedders multilingual,default]
        [--faq-templates general,auto,table] [--merge]

Prints per-arm progress to stderr and the tables to stdout; writes bench-out/chunking_quality.json after every set.
On a loaded machine run it in parts: `--sets scifact`, then `--sets cmrc,faq --merge` (keeps the sets already there).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chunking_sets import FAQ_TABLES, BeirSet, FaqQuery, FaqSet, cmrc_set, faq_set, same_words, scifact_subset
from common import OUT, peak_rss_mb

TENANT = "default"
TEMPLATES = ("general", "auto")
FAQ_TOP = 10


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


@contextmanager
def service(workdir: Path, name: str, minilm: Any) -> Iterator[Any]:
    """A started service on a fresh data dir (removed afterwards); `minilm` is the loaded default embedder."""
    from app.container import build_services
    from app.core.settings import Settings

    data_dir = workdir / name
    shutil.rmtree(data_dir, ignore_errors=True)
    svc = build_services(Settings(data_dir=data_dir, env="test"), embedder=minilm)
    svc.warm_up()
    svc.runner.start()
    try:
        yield svc
    finally:
        svc.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def ingest(svc: Any, collection: str, template: str, embedder: str, files: list[Path]) -> dict[str, Any]:
    """Create the collection with `template` as its default, upload the files, wait for the job; what it cost and
    which template each document got (for `auto`: its choice, with the reasons given)."""
    from app.knowledge import Upload

    svc.kb.create_collection(TENANT, collection, template=template, embedder=embedder)
    t = time.perf_counter()
    handles = [open(f, "rb") for f in files]  # noqa: SIM115 - closed below
    try:
        uploads = [Upload(f.name, h) for f, h in zip(files, handles, strict=True)]
        job_id = svc.kb.upload(TENANT, collection, uploads).job_id
    finally:
        for h in handles:
            h.close()
    while (job := svc.kb.get_job(TENANT, job_id))["status"] not in ("succeeded", "failed", "partial"):
        time.sleep(0.5)
    seconds = time.perf_counter() - t
    if job["status"] != "succeeded":
        raise SystemExit(f"ingest of {collection} ended {job['status']}: {job['files']}")
    chosen: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    offset = 0
    while page := svc.kb.list_documents(TENANT, collection, 500, offset):
        for doc in page:
            chosen[doc.template] += 1
            if choice := doc.metadata.get("template_choice"):
                reasons[f"{choice['template']}: {choice['reason']}"] += 1
        offset += len(page)
    chunks = svc.kb.count_chunks(TENANT, collection)
    log(f"  ingested {collection}: {chunks} chunks in {seconds:.0f}s, templates {dict(chosen)}")
    return {
        "ingest_s": round(seconds, 1),
        "chunks": chunks,
        "chunks_sha256": fingerprint(svc, collection),
        "templates": dict(chosen),
        "reasons": dict(reasons.most_common(5)),
    }


def fingerprint(svc: Any, collection: str) -> str:
    """A hash of what the collection indexes (each chunk's document, span and index text), ids aside: equal in two
    arms when both chunked every document the same way."""
    from app.core.filters import scope_filter

    chunks = svc.store.list_chunks(scope_filter(TENANT, collection, None, None), 10**7)
    rows = sorted(f"{c.external_id}\x1f{c.start}\x1f{c.end}\x1f{c.index_text}" for c in chunks)
    return hashlib.sha256("\x1e".join(rows).encode("utf-8")).hexdigest()[:16]


def beir_arm(svc: Any, data: BeirSet, template: str, embedder: str, depth: int) -> dict[str, Any]:
    from eval.retrieval import dedupe_documents, evaluate

    collection = f"{data.name}-{template}"
    out = {"template": template, "embedder": embedder, **ingest(svc, collection, template, embedder, [data.corpus])}
    empty = [0]
    ranked: dict[str, list[str]] = {}

    def search(text: str) -> list[str]:
        chunks = svc.kb.retrieve(TENANT, collection, text, top_k=depth).chunks
        empty[0] += not chunks
        ranked[text] = dedupe_documents([c.chunk.external_id for c in chunks])[:10]
        return [c.chunk.external_id for c in chunks]

    t = time.perf_counter()
    metrics = evaluate(search, data.queries, data.qrels)
    out.update({k: metrics[k] for k in ("ndcg@10", "recall@10", "mrr@10", "queries")})
    out["empty_results"] = empty[0]
    out["query_s"] = round(time.perf_counter() - t, 1)
    out["_top10"] = ranked  # compared across arms, then dropped
    log(f"  {collection}: " + json.dumps({k: out[k] for k in ("ndcg@10", "recall@10", "mrr@10", "empty_results")}))
    return out


def all_chunks(svc: Any, document_id: str) -> list[Any]:
    out: list[Any] = []
    while page := svc.kb.document_chunks(TENANT, document_id, 1000, len(out)):
        out += page
    return out


def covers(chunk: Any, q: FaqQuery) -> bool:
    return chunk.external_id == q.filename and chunk.start <= q.start and chunk.end >= q.end


def rank_of(chunks: list[Any], q: FaqQuery) -> int | None:
    return next((i for i, c in enumerate(chunks, start=1) if covers(c, q)), None)


def faq_arm(svc: Any, data: FaqSet, template: str, embedder: str) -> dict[str, Any]:
    from app.core.domain import Query, RetrievalPlan

    collection = f"faq-{template}"
    out = {"template": template, "embedder": embedder, **ingest(svc, collection, template, embedder, list(data.files))}
    stored = [c for doc in svc.kb.list_documents(TENANT, collection) for c in all_chunks(svc, doc.id)]
    out["rows_intact"] = round(sum(any(covers(c, q) for c in stored) for q in data.queries) / len(data.queries), 4)
    r = svc.settings.retrieval
    plan = RetrievalPlan(top_k=FAQ_TOP, candidates=max(r.candidates, FAQ_TOP), per_document_cap=FAQ_TOP)
    query_sets: dict[str, list[tuple[FaqQuery, str]]] = {
        "verbatim": [(q, q.question) for q in data.queries],
        "reworded": [(q, q.reworded) for q in data.queries],
        "reworded (changed)": [(q, q.reworded) for q in data.queries if not same_words(q.question, q.reworded)],
    }
    cache: dict[str, tuple[int | None, int, bool]] = {}

    def measure(q: FaqQuery, text: str) -> tuple[int | None, int, bool]:
        if text not in cache:
            query = Query(text, collection, TENANT, FAQ_TOP, embedder=embedder)
            ranked = [c.chunk for c in svc.retrieval.run(query, plan=plan).chunks]
            served = [c.chunk for c in svc.kb.retrieve(TENANT, collection, text, top_k=5).chunks]
            cache[text] = (rank_of(ranked, q), sum(len(c.text) for c in ranked[:5]), rank_of(served, q) is not None)
        return cache[text]

    out["query_sets"] = {}
    for name, items in query_sets.items():
        results = [measure(q, text) for q, text in items]
        n = len(results)
        out["query_sets"][name] = {
            "queries": n,
            "hit@1": round(sum(rk == 1 for rk, _, _ in results) / n, 4),
            "recall@5": round(sum(rk is not None and rk <= 5 for rk, _, _ in results) / n, 4),
            "mrr@10": round(sum(1 / rk for rk, _, _ in results if rk) / n, 4),
            "top5_chars": round(sum(chars for _, chars, _ in results) / n),
            "served_hit@5": round(sum(hit for _, _, hit in results) / n, 4),
        }
        log(f"  {collection}/{embedder} {name}: {json.dumps(out['query_sets'][name])}")
    return out


def run_arms(
    workdir: Path,
    minilm: Any,
    label: str,
    arm: Callable[[Any, str], dict[str, Any]],
    templates: tuple[str, ...] = TEMPLATES,
) -> dict[str, dict[str, Any]]:
    """One arm per template, each on a fresh service."""
    results = {}
    for template in templates:
        log(f"{label}: template {template}")
        with service(workdir, f"{label}-{template}", minilm) as svc:
            results[template] = arm(svc, template)
    return results


def delta(a: float, b: float) -> str:
    return f"{a - b:+.4f}"


def print_tables(report: dict[str, Any]) -> None:
    beir = {k: v for k, v in report["sets"].items() if k in ("scifact", "cmrc2018")}
    if beir:
        print("\n## Where templates do not apply: auto vs general (document-level, kb.retrieve)\n")
        print("| set | embedder | template | chunks | ingest s | nDCG@10 | recall@10 | MRR@10 | empty | auto chose |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, s in beir.items():
            for t in TEMPLATES:
                a = s["arms"][t]
                chose = ", ".join(f"{k} {v}" for k, v in a["templates"].items())
                print(
                    f"| {name} | {a['embedder']} | {t} | {a['chunks']} | {a['ingest_s']} | {a['ndcg@10']} | "
                    f"{a['recall@10']} | {a['mrr@10']} | {a['empty_results']} | {chose if t == 'auto' else ''} |"
                )
            g, a = s["arms"]["general"], s["arms"]["auto"]
            print(
                f"| {name} | | auto − general | | | {delta(a['ndcg@10'], g['ndcg@10'])} | "
                f"{delta(a['recall@10'], g['recall@10'])} | {delta(a['mrr@10'], g['mrr@10'])} | | |"
            )
        for name, s in beir.items():
            same = "identical" if s["same_chunks"] else "different"
            print(
                f"\n{name}: {s['note']}. Chunks indexed by the two arms: {same}; queries whose top-10 documents "
                f"differ between the arms: {s['queries_with_different_top10']}/{s['arms']['auto']['queries']}."
            )
    faq = {k: v for k, v in report["sets"].items() if k.startswith("faq/")}
    if faq:
        first = next(iter(faq.values()))
        print(f"\n## FAQ tables ({', '.join(first['files'])}): auto vs general, row-level relevance\n")
        print(f"{first['queries']} queries from {first['rows']} rows; excluded: {first['excluded']}\n")
        print(
            "| embedder | query set | n | template (chosen) | chunks | rows intact | hit@1 | recall@5 | MRR@10 | "
            "top-5 chars | served hit@5 |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for s in faq.values():
            arms, emb = s["arms"], s["embedder"]
            for qs in arms["general"]["query_sets"]:
                for t, a in arms.items():
                    m = a["query_sets"][qs]
                    chose = "/".join(a["templates"])
                    print(
                        f"| {emb} | {qs} | {m['queries']} | {t} ({chose}) | {a['chunks']} | {a['rows_intact']} | "
                        f"{m['hit@1']} | {m['recall@5']} | {m['mrr@10']} | {m['top5_chars']} | {m['served_hit@5']} |"
                    )
                g = arms["general"]["query_sets"][qs]
                for t in (t for t in arms if t != "general"):
                    a = arms[t]["query_sets"][qs]
                    print(
                        f"| {emb} | {qs} | | {t} − general | | | {delta(a['hit@1'], g['hit@1'])} | "
                        f"{delta(a['recall@5'], g['recall@5'])} | {delta(a['mrr@10'], g['mrr@10'])} | | "
                        f"{delta(a['served_hit@5'], g['served_hit@5'])} |"
                    )
    print()
    for name, s in report["sets"].items():
        print(f"{name}: {s['wall_s']} s")


def beir_entry(workdir: Path, minilm: Any, data: BeirSet, embedder: str, depth: int) -> dict[str, Any]:
    t = time.perf_counter()
    log(f"{data.name}: {data.note}")
    arms = run_arms(workdir, minilm, data.name, lambda svc, tpl: beir_arm(svc, data, tpl, embedder, depth))
    tops = [arms[tpl].pop("_top10") for tpl in TEMPLATES]
    return {
        "note": data.note,
        "depth": depth,
        "same_chunks": arms["general"]["chunks_sha256"] == arms["auto"]["chunks_sha256"],
        "queries_with_different_top10": sum(tops[0].get(q) != tops[1].get(q) for q in data.queries.values()),
        "arms": arms,
        "wall_s": round(time.perf_counter() - t, 1),
    }


def faq_entry(workdir: Path, minilm: Any, faq: FaqSet, embedder: str, templates: tuple[str, ...]) -> dict[str, Any]:
    t = time.perf_counter()
    log(f"faq/{embedder}: {len(faq.queries)} queries from {faq.rows} rows, excluded {faq.excluded}")
    label = f"faq-{embedder}"
    arms = run_arms(workdir, minilm, label, lambda svc, tpl: faq_arm(svc, faq, tpl, embedder), templates)
    return {
        "files": [f.name for f in faq.files],
        "rows": faq.rows,
        "queries": len(faq.queries),
        "excluded": faq.excluded,
        "examples": [{"question": q.question, "reworded": q.reworded} for q in faq.queries[:8]],
        "embedder": embedder,
        "arms": arms,
        "wall_s": round(time.perf_counter() - t, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="scifact,cmrc,faq", help="comma-separated: scifact, cmrc, faq")
    ap.add_argument("--scifact-docs", type=int, default=1500, help="corpus documents (0: all 5,183)")
    ap.add_argument("--scifact-queries", type=int, default=0, help="judged train queries (0: all)")
    ap.add_argument("--cmrc-queries", type=int, default=0, help="CMRC questions (0: all 1,002)")
    ap.add_argument("--depth", type=int, default=30, help="chunks kb.retrieve returns per BEIR query")
    ap.add_argument("--faq-embedders", default="multilingual", help="comma-separated collection embedders (FAQ set)")
    ap.add_argument(
        "--faq-templates", default="general,auto,table", help="FAQ arms; general is the baseline (table: rows whole)"
    )
    ap.add_argument("--out", default=str(OUT / "chunking_quality.json"))
    ap.add_argument("--merge", action="store_true", help="keep the other sets already in --out (runs in parts)")
    args = ap.parse_args()
    sets = {s.strip() for s in args.sets.split(",") if s.strip()}
    if unknown := sets - {"scifact", "cmrc", "faq"}:
        ap.error(f"unknown set(s) {', '.join(sorted(unknown))}; valid: scifact, cmrc, faq")
    faq_templates = tuple(dict.fromkeys(["general", *(t.strip() for t in args.faq_templates.split(",") if t.strip())]))
    from ingest.templates import TEMPLATES as KNOWN

    if unknown := set(faq_templates) - set(KNOWN):
        ap.error(f"unknown template(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(KNOWN))}")
    out = Path(args.out)
    report: dict[str, Any] = {"sets": {}, "runs": []}
    if args.merge and out.exists():
        report = json.loads(out.read_text(encoding="utf-8"))

    def write() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")

    def save(name: str, entry: dict[str, Any]) -> None:
        """After every set, so that a long run that is stopped keeps what it measured."""
        report["sets"][name] = entry
        write()

    from app.container import build_embedder
    from app.core.settings import Settings

    t0 = time.perf_counter()
    minilm = build_embedder(Settings(env="test"))
    minilm.warm_up()
    workdir = Path(tempfile.mkdtemp(prefix="chunking-quality-"))
    try:
        if "scifact" in sets:
            data = scifact_subset(workdir / "scifact", args.scifact_queries, args.scifact_docs)
            save("scifact", beir_entry(workdir, minilm, data, "default", args.depth))
        if "cmrc" in sets:
            data = cmrc_set(workdir / "cmrc", args.cmrc_queries)
            save("cmrc2018", beir_entry(workdir, minilm, data, "multilingual", args.depth))
        if "faq" in sets:
            faq = faq_set(FAQ_TABLES, "title", "detail")
            for emb in (e.strip() for e in args.faq_embedders.split(",") if e.strip()):
                save(f"faq/{emb}", faq_entry(workdir, minilm, faq, emb, faq_templates))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    run = {"args": vars(args), "wall_s": round(time.perf_counter() - t0, 1), "peak_rss_mb": round(peak_rss_mb())}
    report["runs"] = [*report.get("runs", []), run]
    write()
    print_tables(report)
    print(f"this run: {run['wall_s']} s, peak RSS {run['peak_rss_mb']} MB; written: {out}")


if __name__ == "__main__":
    main()
