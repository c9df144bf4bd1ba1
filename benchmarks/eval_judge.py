"""Ragas faithfulness with the local judge on HaluEval: throughput, and how well it separates hallucinations.

Takes the first N HaluEval QA dev rows of the held-out fold of `eval.train_verifier`'s split (sha256 of the question,
1 in 5: the rows the committed fast verifier never trained on). Each row gives two samples with its knowledge as the
one context: the right answer (supported) and the hallucinated answer (hallucinated), judged one after the other so
a stopped run stays balanced. Every sample is scored by

* Ragas' `Faithfulness` through `eval.ragas_judge.RagasJudge` on the local llama.cpp model (`--model`), and
* our fast verifier's answer support (`eval.verify_suite.score_answer`, what `benchmarks/verifier.py` scores).

Figures: judge throughput (samples/min over the judging wall time; s/sample p50/p95), model calls, retries, cache hits
and failures; AUROC (P(a supported answer scores above a hallucinated one)) of each scorer. Judge failures (timeout,
invalid output, NaN) are not scored: the Ragas AUROC is over the scored samples, printed next to the failure count,
the fast verifier's AUROC on the same scored samples and on all, and — labelled — Ragas with failures taken as 0.5.

Each sample is appended to `bench-out/eval_judge.jsonl` as it is judged; Ctrl-C or SIGTERM prints the figures of the
samples done so far.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/eval_judge.py --limit 15 [--threads 2] [--cache FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from common import OUT, REPO, SHARED, require

from app.adapters.embedders import HashEmbedder
from app.llm.model_files import QWEN
from app.verify.fast import FastVerifier
from eval.results import FAITHFULNESS, CaseRow
from eval.train_verifier import HALUEVAL, halueval_examples
from eval.verify_suite import SUPPORTED, auroc, score_answer


@dataclass
class Sample:
    key: str
    question: str
    evidence: str
    answer: str
    label: int
    ragas: float | None = None
    ragas_error: str | None = None
    fast: float = 0.0
    seconds: float = 0.0


def load_samples(limit: int) -> list[Sample]:
    """Two samples (supported, hallucinated) for each of the first `limit` held-out HaluEval rows."""
    out: list[Sample] = []
    rows = 0
    for e in halueval_examples(require(SHARED / "grounding" / HALUEVAL)):  # in pairs: right, then hallucinated
        if not e.held_out:
            continue
        if e.label == SUPPORTED:
            if rows == limit:
                break
            rows += 1
        out.append(Sample(e.key, e.question, e.evidence, e.answer, e.label))
    return out


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def mean(values: list[float]) -> float | None:
    return rounded(statistics.fmean(values)) if values else None


def figures(done: list[Sample], wall_s: float, stats: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's figures over the samples judged so far."""
    scored = [(s, s.ragas) for s in done if s.ragas is not None]
    scored_labels = [s.label == SUPPORTED for s, _ in scored]
    labels = [s.label == SUPPORTED for s in done]
    per_sample = [s.seconds for s in done]
    return {
        "samples": len(done),
        "supported": sum(labels),
        "hallucinated": len(done) - sum(labels),
        "judge_wall_s": round(wall_s, 1),
        "samples_per_min": rounded(60 * len(done) / wall_s) if wall_s > 0 else None,
        "s_per_sample_p50": rounded(_pct(per_sample, 50)),
        "s_per_sample_p95": rounded(_pct(per_sample, 95)),
        "judge_failures": len(done) - len(scored),
        "failure_reasons": sorted({(s.ragas_error or "")[:80] for s in done if s.ragas is None}),
        "ragas_scored": len(scored),
        "auroc_ragas_scored": rounded(auroc([v for _, v in scored], scored_labels)),
        "auroc_fast_same_scored": rounded(auroc([s.fast for s, _ in scored], scored_labels)),
        "auroc_fast_all": rounded(auroc([s.fast for s in done], labels)),
        "auroc_ragas_failures_as_0.5": rounded(
            auroc([0.5 if s.ragas is None else s.ragas for s in done], labels) if done else None
        ),
        "ragas_mean_supported": mean([v for s, v in scored if s.label == SUPPORTED]),
        "ragas_mean_hallucinated": mean([v for s, v in scored if s.label != SUPPORTED]),
        "judge_stats": stats,
    }


def report(fig: dict[str, Any], model: str, partial: bool) -> None:
    head = "PARTIAL (stopped) " if partial else ""
    print(
        f"\n{head}Ragas faithfulness, judge {model}, {fig['samples']} HaluEval held-out samples "
        f"({fig['supported']} supported, {fig['hallucinated']} hallucinated)"
    )
    print(
        f"judge throughput: {fig['samples_per_min']} samples/min; s/sample p50 {fig['s_per_sample_p50']}, "
        f"p95 {fig['s_per_sample_p95']}; wall {fig['judge_wall_s']} s"
    )
    print(f"judge failures: {fig['judge_failures']} {fig['failure_reasons'] or ''}; stats {fig['judge_stats']}")
    n, scored = fig["samples"], fig["ragas_scored"]
    print(f"AUROC Ragas faithfulness, scored samples (n={scored}): {fig['auroc_ragas_scored']}")
    print(f"AUROC fast verifier, same samples (n={scored}):        {fig['auroc_fast_same_scored']}")
    print(f"AUROC fast verifier, all samples (n={n}):              {fig['auroc_fast_all']}")
    print(f"AUROC Ragas, failures taken as 0.5 (n={n}):            {fig['auroc_ragas_failures_as_0.5']}")
    print(
        f"mean Ragas faithfulness: supported {fig['ragas_mean_supported']}, "
        f"hallucinated {fig['ragas_mean_hallucinated']}"
    )


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: the figures of the samples done are printed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=QWEN, help="llama.cpp judge: qwen2.5-coder-1.5b | smollm2-135m | a .gguf path")
    p.add_argument("--limit", type=int, default=200, help="held-out HaluEval rows (two samples each)")
    p.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0 = number of cores)")
    p.add_argument("--n-ctx", type=int, default=4096)
    p.add_argument("--prompt-cache-mb", type=int, default=0, help="llama.cpp RAM cache of prompt states (0 = off)")
    p.add_argument("--timeout", type=float, default=180.0, help="limit of one judge call (a counted failure)")
    p.add_argument("--max-tokens", type=int, default=1024, help="reply budget of one judge call")
    p.add_argument("--cache", default=None, help="SQLite file of judge replies (default: none, so timings are real)")
    p.add_argument("--out", default=str(OUT / "eval_judge.jsonl"), help="per-sample results, written progressively")
    a = p.parse_args()

    from app.llm.llama_cpp import LlamaCppModel
    from eval.ragas_judge import build_judge

    samples = load_samples(a.limit)
    verifier = FastVerifier()
    verifier.warm_up()
    for s in samples:
        s.fast = score_answer(verifier, s.question, (s.evidence,), s.answer).score

    llm = LlamaCppModel(
        a.model,
        cache_dir=REPO / "data" / "models",
        n_ctx=a.n_ctx,
        n_threads=a.threads,
        timeout_s=a.timeout,
        prompt_cache_mb=a.prompt_cache_mb,
    )
    # Faithfulness needs no embeddings; the hash embedder only satisfies the judge's answer-relevancy wiring.
    judge = build_judge("local", llm, HashEmbedder(), a.cache, timeout_s=a.timeout, max_tokens=a.max_tokens)
    assert judge is not None
    started = time.perf_counter()
    judge.warm_up()
    print(
        f"{len(samples)} samples; judge {llm.name} loaded in {time.perf_counter() - started:.1f} s, "
        f"{llm.n_threads} threads",
        flush=True,
    )

    signal.signal(signal.SIGTERM, _stop)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    done: list[Sample] = []
    wall = 0.0
    partial = False
    with open(a.out, "w", encoding="utf-8") as out:
        try:
            for i, s in enumerate(samples):
                row = CaseRow(f"s{i}", s.question, (), True, answer=s.answer, contexts=[s.evidence])
                t = time.perf_counter()
                judge.score([row], [FAITHFULNESS])
                s.seconds = time.perf_counter() - t
                wall += s.seconds
                score = row.scores[FAITHFULNESS]
                s.ragas, s.ragas_error = score.value, score.error
                done.append(s)
                out.write(json.dumps(s.__dict__) + "\n")
                out.flush()
                print(
                    f"  {i + 1}/{len(samples)} label={'sup' if s.label == SUPPORTED else 'hal'} "
                    f"ragas={s.ragas if s.ragas is not None else s.ragas_error} fast={s.fast:.3f} "
                    f"{s.seconds:.1f}s",
                    flush=True,
                )
        except KeyboardInterrupt:
            partial = True
    report(figures(done, wall, judge.stats), llm.name, partial)
    sys.stdout.flush()
    if partial:
        # The judge's worker thread may still be inside llama.cpp (it cannot be interrupted); don't wait for it.
        os._exit(130)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
