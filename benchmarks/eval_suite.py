"""Wall time of a suite run end to end: `grounded eval qa`'s path (answer every question, metrics, judge, summary).

The suite is built from the HaluEval benchmark half (never used to calibrate): N questions, about half with their
knowledge passage indexed (answerable, with reference answer, document and context) and half without (answerable:
false). Prints the wall time, seconds per question, the aggregate and the judge's statistics; a second run shows
the judge cache at work.

    .venv/bin/python benchmarks/eval_suite.py --limit 100                                   # no LLM judge
    .venv/bin/python benchmarks/eval_suite.py --limit 100 --judge local --metrics faithfulness
"""

from __future__ import annotations

import argparse
import json
import time

from common import OUT, SHARED, require


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=100, help="questions in the suite")
    ap.add_argument("--judge", default="none", help="none | local | openai")
    ap.add_argument("--metrics", nargs="*", default=None)
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads of the local judge")
    ap.add_argument("--rerun", action="store_true", help="run twice: the second run shows the judge cache")
    args = ap.parse_args()
    from app.container import build_services
    from app.core.settings import Settings
    from eval.negative_rejection import COLLECTION, build_collection, load_rows
    from eval.results import SuiteCase
    from eval.suites_validate import suite_id

    rows = load_rows(require(SHARED / "grounding" / "halueval" / "halueval_qa_dev.jsonl"), "benchmark", args.limit)
    workdir = OUT / f"eval-suite-{args.limit}"
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=workdir, env="test", eval={"judge_threads": args.threads})
    svc = build_services(settings)
    svc.warm_up()
    svc.runner.start()
    print("collection:", build_collection(svc, rows, workdir), flush=True)
    cases = tuple(
        SuiteCase(
            r.id,
            r.question,
            r.answer if r.present else None,
            (r.id,) if r.present else (),
            (r.knowledge,) if r.present else (),
            r.present,
            ("present" if r.present else "absent",),
        )
        for r in rows
    )
    from eval.results import Suite

    suite = Suite(suite_id(cases), f"halueval-{len(cases)}", cases)
    for attempt in range(2 if args.rerun else 1):
        t = time.perf_counter()
        run = svc.evals.execute(suite, COLLECTION, "default", None, args.judge, args.metrics)
        wall = time.perf_counter() - t
        print(
            json.dumps(
                {
                    "attempt": attempt + 1,
                    "questions": len(cases),
                    "judge": args.judge,
                    "wall_s": round(wall, 1),
                    "s_per_question": round(wall / len(cases), 3),
                    "answer_latency_p50_ms": run.config.get("latency_p50_ms"),
                    "aggregate": {k: (round(v, 4) if v is not None else None) for k, v in run.aggregate.items()},
                    "failed": {k: s.failed for k, s in run.summaries.items() if s.failed},
                    "judge_stats": run.judge_stats,
                },
                indent=2,
            ),
            flush=True,
        )
    svc.close()


if __name__ == "__main__":
    main()
