"""Answer verification on held-out development data: the fast verifier (and optionally the LLM judge) per answer.

Scores only the held-out part of `eval.train_verifier`'s deterministic split (sha256 of the HaluEval question or the
UHGEval id, 1 in 5), which the committed model never saw:

* HaluEval QA dev — right answer (supported) vs hallucinated answer, the knowledge as the one context;
* UHGEval dev (Chinese) — evidence = newsBeginning + newsRemainder, question = headline; realContinuation
  (supported; the article's own next sentences, hence quoted) vs hallucinatedContinuation;
* HaluEval sentence form — hallucinated answers with their one missing fact replaced by the right answer
  (supported, full sentences) against every hallucinated answer: how paraphrased correct sentences fare.

Figures per set: balanced accuracy, precision/recall/F1 of the hallucinated class, AUROC, latency per answer
(p50/p95). `--llm-sample N` also runs the LLM judge of the settings (GROUNDED_MODELS__LLM=llama-cpp|openai) on a
sample of N HaluEval answers and prints its time per answer.

    .venv/bin/python benchmarks/verifier.py [--llm-sample 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import random

from common import SHARED, require

from app.verify.fast import FastVerifier
from eval.train_verifier import (
    HALUEVAL,
    UHGEVAL,
    evaluation_rows,
    halueval_examples,
    sentence_form_examples,
    uhgeval_examples,
)
from eval.verify_suite import evaluate_rows

GROUNDING = SHARED / "grounding"
KEYS = (
    "balanced_accuracy",
    "precision_hallucinated",
    "recall_hallucinated",
    "f1_hallucinated",
    "auroc",
    "latency_ms_p50",
    "latency_ms_p95",
)


def _table(results: dict[str, dict]) -> str:
    lines = [
        "| set | answers | balanced acc | P(h) | R(h) | F1(h) | AUROC | ms/answer p50 | p95 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cells = " | ".join(
            "—" if r[k] is None else f"{r[k]:.2f}" if k.startswith("latency") else f"{r[k]:.4f}" for k in KEYS
        )
        lines.append(f"| {name} | {r['rows']} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--llm-sample", type=int, default=0, help="also run the LLM judge on N held-out HaluEval answers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = p.parse_args()

    halu = halueval_examples(require(GROUNDING / HALUEVAL))
    examples = halu + uhgeval_examples(require(GROUNDING / UHGEVAL)) + sentence_form_examples(halu)
    held_out = [e for e in examples if e.held_out]
    verifier = FastVerifier()
    verifier.warm_up()
    results = {}
    for name in ("halueval", "uhgeval", "halueval_sentence"):
        r = evaluate_rows(evaluation_rows(held_out, name), verifier)
        results[name] = {k: r[k] for k in (*KEYS, "rows", "n_failed")}

    if a.llm_sample:
        from app.core.settings import get_settings
        from app.llm.factory import build_language_model
        from app.verify.llm_judge import LLMJudgeVerifier

        model = build_language_model(get_settings())
        if model is None:
            raise SystemExit("--llm-sample needs a chat model: set GROUNDED_MODELS__LLM to llama-cpp or openai")
        rows = evaluation_rows(held_out, "halueval")
        sample = random.Random(a.seed).sample(rows, min(a.llm_sample, len(rows)))
        judge = LLMJudgeVerifier(model)
        r = evaluate_rows(sample, judge)
        results[f"halueval (llm judge {model.name}, sample)"] = {k: r[k] for k in (*KEYS, "rows", "n_failed")}
        fast = evaluate_rows(sample, verifier)
        results["halueval (fast, same sample)"] = {k: fast[k] for k in (*KEYS, "rows", "n_failed")}

    if a.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"threshold {verifier.threshold:.2f}; held-out answers only (never trained on)\n")
        print(_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
