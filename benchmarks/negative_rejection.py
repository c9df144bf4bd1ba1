"""Negative rejection and answer latency per generator, on the HaluEval benchmark half (never used to calibrate).

Half of the benchmark rows' knowledge passages are indexed; every question is asked through the full answer path
(input guard → retrieval → evidence gate → generation → verification). Prints correct-refusal rate (evidence
absent), false-refusal rate and answer correctness (evidence present), and latency p50/p95 of `/v1/answer` over HTTP.

    .venv/bin/python benchmarks/negative_rejection.py                          # extractive, all ~4,000 questions
    .venv/bin/python benchmarks/negative_rejection.py --generator llama-cpp --limit 60
    .venv/bin/python benchmarks/negative_rejection.py --http 200               # + latency over HTTP (200 questions)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import OUT, REPO, SHARED, require, serving


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", default="extractive", help="extractive | llama-cpp | openai")
    ap.add_argument("--model", default="", help="models.llm_model for llama-cpp (default qwen2.5-coder-1.5b)")
    ap.add_argument("--verifier", default="fast")
    ap.add_argument("--limit", type=int, default=0, help="questions asked (default: all of the benchmark half)")
    ap.add_argument("--http", type=int, default=0, help="also measure /v1/answer latency over HTTP on N questions")
    args = ap.parse_args()
    from app.container import build_services
    from app.core.settings import Settings
    from eval.negative_rejection import COLLECTION, build_collection, load_rows, run

    data = require(SHARED / "grounding" / "halueval" / "halueval_qa_dev.jsonl")
    rows = load_rows(data, "benchmark")
    workdir = OUT / "halueval-benchmark"
    workdir.mkdir(parents=True, exist_ok=True)
    models = {"llm": args.generator} if args.generator != "extractive" else {}
    if args.model:
        models["llm_model"] = args.model
    settings = Settings(
        data_dir=workdir, env="test", answer={"generator": args.generator, "verifier": args.verifier}, models=models
    )
    svc = build_services(settings)
    svc.warm_up()
    svc.runner.start()
    print("collection:", build_collection(svc, rows, workdir), flush=True)
    asked = rows
    if args.limit:  # a balanced sample: half present, half absent
        present = [r for r in rows if r.present][: args.limit // 2]
        absent = [r for r in rows if not r.present][: args.limit - len(present)]
        asked = present + absent
    t = time.perf_counter()
    result = run(asked, lambda q: svc.kb.answer("default", COLLECTION, q), progress=True)
    result["generator"] = svc.answers.generator.name
    result["verifier"] = args.verifier
    result["seconds"] = round(time.perf_counter() - t, 1)
    svc.close()
    print(json.dumps(result, indent=2), flush=True)
    if args.http:
        env = {"GROUNDED_ANSWER__GENERATOR": args.generator, "GROUNDED_ANSWER__VERIFIER": args.verifier}
        if args.generator != "extractive":
            env["GROUNDED_MODELS__LLM"] = args.generator
        if args.model:
            env["GROUNDED_MODELS__LLM_MODEL"] = args.model
        latencies = []
        with serving(workdir, 8791, env, timeout=600) as client:
            step = max(1, len(asked) // args.http)  # spread over present and absent questions alike
            for r in asked[::step][: args.http]:
                t = time.perf_counter()
                resp = client.post("/v1/answer", json={"question": r.question, "collection": COLLECTION})
                latencies.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, resp.text
        latencies.sort()
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(
            f"HTTP /v1/answer ({args.generator}, n={len(latencies)}): p50 {statistics.median(latencies):.1f} ms, "
            f"p95 {p95:.1f} ms"
        )
    print("repo:", REPO.name)


if __name__ == "__main__":
    main()
