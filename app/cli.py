"""The `grounded` command: the same services in-process, no server needed. Thin: parse, call, print."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from app.cli_answer import add_ask_command
from app.cli_eval import add_parsers as add_eval_parsers
from app.cli_faq import add_faq_commands
from app.cli_ingest import _services, add_ingest_commands, ingest_paths
from app.cli_ops import add_ops_commands
from app.core.errors import GroundedError, InvalidInputError
from app.core.filters import Filter

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_COLLECTION = "demo"


def _out(data: Any, as_json: bool, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if as_json else text)


def _filter(raw: str | None) -> Filter | None:
    if not raw:
        return None
    try:
        return Filter.model_validate_json(raw)
    except ValueError as e:
        raise InvalidInputError(f"--filter is not a valid filter: {e}", "filters") from e


def cmd_retrieve(a: argparse.Namespace) -> int:
    from app.api.schemas import retrieval_out

    svc = _services()
    try:
        r = svc.kb.retrieve(svc.settings.default_tenant, a.collection, a.query, a.k, _filter(a.filter))
    finally:
        svc.close()
    data = retrieval_out(r)
    lines = [
        f"{c['rank']:>2}. [{c['external_id']}{' p.' + str(c['page']) if c['page'] else ''}] "
        f"dense={c['scores']['dense'] or 0:.3f}  {c['text'][:160].replace(chr(10), ' ')}"
        for c in data["chunks"]
    ]
    _out(data, a.json, "\n".join(lines) or "(no passage above the relevance floor)")
    return 0


def cmd_eval_retrieval(a: argparse.Namespace) -> int:
    from eval.retrieval import evaluate, load_qrels, load_queries
    from retrievers.hybrid import RetrievalMode

    queries, qrels = load_queries(a.queries), load_qrels(a.qrels)
    if a.limit:
        queries = dict(list((q, t) for q, t in queries.items() if q in qrels)[: a.limit])
    svc = _services()
    tenant = svc.settings.default_tenant
    embedder = svc.kb.get_collection(tenant, a.collection).get("embedder") or "default"
    mode = RetrievalMode("hybrid" if a.mode == "rerank" else a.mode)

    reranker = None
    if a.mode == "rerank":
        from app.container import build_reranker

        reranker = svc.retrieval.reranker or build_reranker(svc.settings, "feature")
        reranker.warm_up()

    def search(text: str) -> list[str]:
        from app.core.domain import Query

        q = Query(text, a.collection, tenant, top_k=a.depth, embedder=embedder)
        chunks = list(svc.retriever.run(q, mode=mode, floor=reranker is None).chunks)
        if reranker is not None:
            depth = int(getattr(reranker, "depth", 50))
            chunks = reranker.rerank(text, chunks[:depth]) + chunks[depth:]
        return [c.chunk.external_id for c in chunks]

    def progress(i: int, n: int) -> None:
        if not a.json and (i % 50 == 0 or i == n):
            print(f"\r{i}/{n} queries", end="", file=sys.stderr, flush=True)

    try:
        metrics = evaluate(search, queries, qrels, progress)
    finally:
        svc.close()
    if not a.json:
        print(file=sys.stderr)
    text = "\n".join(f"{k:<16}{v}" for k, v in metrics.items())
    _out({**metrics, "mode": a.mode}, a.json, f"mode            {a.mode}\n{text}")
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    import uvicorn

    from app.api.main import create_app
    from app.container import build_services
    from app.core.settings import get_settings

    settings = get_settings()
    host, port = a.host or settings.host, a.port or settings.port
    if settings.broker_url and not settings.qdrant_url:
        print(
            "error: GROUNDED_BROKER_URL needs GROUNDED_QDRANT_URL: the embedded index belongs to one process, so the "
            "API and Celery workers must share a Qdrant server (unset GROUNDED_BROKER_URL for the in-process runner)",
            file=sys.stderr,
        )
        return 2
    svc = build_services(settings)
    svc.warm_up()
    svc.runner.start()
    if a.demo:
        job = ingest_paths(svc, DEMO_COLLECTION, [str(DEMO_DIR)], {"source": "demo"})
        print(f"demo collection '{DEMO_COLLECTION}': {job['status']}, {job['counts'].get('chunks', 0)} chunks")
    url = f"http://{host}:{port}"
    print(f"grounded is serving on {url}  (OpenAPI docs: {url}/docs)")
    print(f"""try:  curl -s {url}/v1/answer -H 'content-type: application/json' \\
        -d '{{"question": "How many days of annual leave do employees get?", "collection": "{DEMO_COLLECTION}"}}'""")
    uvicorn.run(create_app(settings, services=svc), host=host, port=port, log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grounded", description="Grounded answers from your documents.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the HTTP API")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--demo", action="store_true", help="ingest the bundled demo collection first")
    s.set_defaults(func=cmd_serve)
    add_ingest_commands(sub)
    add_ops_commands(sub)
    add_faq_commands(sub)
    add_ask_command(sub)
    for name, arg, fn in (("retrieve", "query", cmd_retrieve),):
        s = sub.add_parser(name)
        s.add_argument(arg)
        s.add_argument("--collection", "-c", required=True)
        s.add_argument("-k", type=int, default=None)
        s.add_argument("--filter", help='filter JSON, e.g. \'{"must":[{"key":"file_type","match":{"value":"pdf"}}]}\'')
        s.add_argument("--json", action="store_true")
        s.set_defaults(func=fn)
    ev = sub.add_parser("eval", help="evaluation suites").add_subparsers(dest="suite", required=True)
    s = ev.add_parser("retrieval", help="nDCG/recall/MRR on BEIR queries + qrels")
    s.add_argument("--collection", "-c", required=True)
    s.add_argument("--queries", required=True)
    s.add_argument("--qrels", required=True)
    s.add_argument(
        "--mode",
        choices=["hybrid", "dense", "sparse", "rerank"],
        default="hybrid",
        help="rerank = hybrid first pass, learned reranker over its top 50",
    )
    s.add_argument("--depth", type=int, default=100, help="chunks retrieved per query")
    s.add_argument("--limit", type=int, default=0, help="evaluate only the first N judged queries")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval_retrieval)
    s = ev.add_parser("guard", help="recall per label, false-positive rate and latency of the guards on a suite")
    s.add_argument("--suite", required=True, help="JSONL or CSV rows {text, kind, label: attack|harmful|benign}")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval_guard)
    s = ev.add_parser("verify", help="balanced accuracy, P/R/F1, AUROC and latency of an answer verifier on a suite")
    s.add_argument(
        "--suite",
        required=True,
        help="JSONL or CSV rows {question, contexts, answer, label: supported|hallucinated|1|0} or HaluEval QA rows",
    )
    s.add_argument("--verifier", choices=["fast", "llm"], default="fast", help="llm = the LLM judge (settings' model)")
    s.add_argument("--limit", type=int, default=0, help="score a random sample of N answers (0 = all)")
    s.add_argument("--seed", type=int, default=0, help="the sample's seed")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval_verify)
    add_eval_parsers(ev)
    return p


def cmd_eval_guard(a: argparse.Namespace) -> int:
    """Runs the guards alone (no services, no models): the rules and the committed classifier."""
    from app.guards import Guard
    from eval.guard import format_guard_report, run_guard_suite

    if not Path(a.suite).is_file():
        raise InvalidInputError(f"no such suite file: {a.suite}", "suite")
    result = run_guard_suite(a.suite, Guard())
    _out(result, a.json, format_guard_report(result))
    return 0


def cmd_eval_verify(a: argparse.Namespace) -> int:
    """The fast verifier needs no services; the LLM judge loads the chat model that settings name."""
    from eval.verify_suite import evaluate_rows, format_verify_report, load_verify_suite

    if not Path(a.suite).is_file():
        raise InvalidInputError(f"no such suite file: {a.suite}", "suite")
    if a.limit < 0:
        raise InvalidInputError("--limit must be >= 0", "limit")
    rows = load_verify_suite(a.suite, a.limit, a.seed)  # a bad suite fails before a model loads
    if a.verifier == "llm":
        from app.core.settings import get_settings
        from app.llm.factory import build_language_model
        from app.verify.llm_judge import LLMJudgeVerifier

        settings = get_settings()
        if settings.models.llm == "none":
            raise InvalidInputError(
                "--verifier llm needs a chat model: set GROUNDED_MODELS__LLM to llama-cpp or openai", "verifier"
            )
        model = build_language_model(settings)
        if model is None:
            raise InvalidInputError(f"no chat model for models.llm={settings.models.llm!r}", "verifier")
        verifier: Any = LLMJudgeVerifier(model)
    else:
        from app.verify.fast import FastVerifier

        verifier = FastVerifier()
    result = evaluate_rows(rows, verifier)
    _out(result, a.json, format_verify_report(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GroundedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
