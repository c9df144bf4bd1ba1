"""Answer-verification evaluation on a labelled suite: what `grounded eval verify --suite FILE [--json]` runs.

A suite is JSONL (one object a line) or CSV (a header row). Two row shapes, mixed freely:

* generic: `question` (string), `contexts` (a list of strings, or one string; in CSV a JSON list or plain text),
  `answer` (string) and `label`: "supported" or 1 (every claim of the answer is backed by the contexts),
  "hallucinated" or 0 (it is not);
* HaluEval QA: `knowledge`, `question`, `right_answer`, `hallucinated_answer` — two rows, one of each label, with
  the knowledge as the only context.

An answer is split into sentences (`app.core.text.sentence_spans`); each sentence takes its best support over the
contexts, and the answer its weakest sentence: score = min over sentences of max over contexts. The answer counts as
supported when every sentence is supported by some context. Figures treat "hallucinated" as the positive class.

Usage::

    result = run_verify_suite("suite.jsonl", FastVerifier())
    print(format_verify_report(result))
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import InvalidInputError
from app.core.ports import Verifier
from app.core.text import sentence_spans
from eval.retrieval import percentile
from eval.suite_files import suite_records

SUPPORTED, HALLUCINATED = 1, 0
_LABELS: dict[Any, int] = {"supported": SUPPORTED, "hallucinated": HALLUCINATED, 1: SUPPORTED, 0: HALLUCINATED}
_LABELS.update({"1": SUPPORTED, "0": HALLUCINATED})
_HALUEVAL_KEYS = ("knowledge", "question", "right_answer", "hallucinated_answer")
_MAX_ERRORS = 20


@dataclass(frozen=True)
class SuiteRow:
    """One labelled answer. `line` is the suite line it came from (a HaluEval line gives two rows)."""

    line: int
    question: str
    contexts: tuple[str, ...]
    answer: str
    label: int  # SUPPORTED (1) or HALLUCINATED (0)


def _raw_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed row or an error string) for every non-blank record."""

    def header_error(columns: set[str]) -> str | None:
        if {"question", "contexts", "answer", "label"} <= columns or set(_HALUEVAL_KEYS) <= columns:
            return None
        return "the header needs question, contexts, answer, label (or HaluEval's " + ", ".join(_HALUEVAL_KEYS) + ")"

    return suite_records(path, header_error)


def _text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _contexts(value: Any) -> tuple[str, ...] | str:
    """The contexts of a row, or a problem."""
    if isinstance(value, str) and value.strip().startswith("["):  # a CSV cell holding a JSON list
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if isinstance(value, str):
        return (value,) if value.strip() else "contexts must not be empty"
    if not isinstance(value, list) or not value:
        return "contexts must be a non-empty list of strings or a string"
    if not all(isinstance(c, str) for c in value):
        return "contexts must hold strings only"
    kept = tuple(c for c in value if c.strip())
    return kept or "contexts are all empty"


def _parse(n: int, row: Any) -> list[SuiteRow] | str:
    """The rows one record gives, or what is wrong with it."""
    if isinstance(row, str):
        return row
    if not isinstance(row, dict):
        return "not an object"
    if "knowledge" in row and "right_answer" in row:
        values = {k: _text(row, k) for k in _HALUEVAL_KEYS}
        empty = [k for k, v in values.items() if v is None]
        if empty:
            what = "a non-empty string" if len(empty) == 1 else "non-empty strings"
            return f"HaluEval row: {', '.join(empty)} must be {what}"
        q, ctx = str(values["question"]).strip(), (str(values["knowledge"]),)
        return [
            SuiteRow(n, q, ctx, str(values["right_answer"]), SUPPORTED),
            SuiteRow(n, q, ctx, str(values["hallucinated_answer"]), HALLUCINATED),
        ]
    question, answer = row.get("question"), _text(row, "answer")
    if not isinstance(question, str):
        return "question must be a string (it may be empty)"
    if answer is None:
        return "answer must be a non-empty string"
    contexts = _contexts(row.get("contexts"))
    if isinstance(contexts, str):
        return contexts
    label = row.get("label")
    key = label.strip().lower() if isinstance(label, str) else label
    if isinstance(key, bool) or key not in _LABELS:
        return f"label must be supported, hallucinated, 1 or 0 (got {label!r})"
    return [SuiteRow(n, question.strip(), contexts, answer, _LABELS[key])]


def load_verify_suite(path: str | Path, limit: int = 0, seed: int = 0) -> list[SuiteRow]:
    """Validated rows, in file order; with `limit`, a random sample of that many (fixed by `seed`).

    Raises:
        InvalidInputError: the file is missing, empty or not UTF-8, or rows are malformed (every problem with its
            line number, the first 20 listed).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"verify suite not found: {path}", "suite")
    if limit < 0:
        raise InvalidInputError("limit must be >= 0", "limit")
    try:
        raw = list(_raw_rows(path))
    except UnicodeDecodeError as e:
        raise InvalidInputError(
            f"verify suite {path.name} is not UTF-8 text: {e.reason} at byte {e.start}", "suite"
        ) from e
    rows: list[SuiteRow] = []
    errors: list[str] = []
    for n, record in raw:
        parsed = _parse(n, record)
        if isinstance(parsed, str):
            errors.append(f"{path.name}: line {n}: {parsed}")
        else:
            rows.extend(parsed)
    if errors:
        more = f"\n... and {len(errors) - _MAX_ERRORS} more" if len(errors) > _MAX_ERRORS else ""
        raise InvalidInputError("invalid verify suite:\n" + "\n".join(errors[:_MAX_ERRORS]) + more, "suite")
    if not rows:
        raise InvalidInputError(f"verify suite {path.name} has no rows", "suite")
    if limit and limit < len(rows):
        picked = sorted(random.Random(seed).sample(range(len(rows)), limit))
        rows = [rows[i] for i in picked]
    return rows


@dataclass(frozen=True)
class AnswerScore:
    """The verdict on one answer: its weakest sentence's best support."""

    score: float
    supported: bool
    reason: str  # why the weakest unsupported sentence failed ("" when supported)
    sentence: str  # the weakest sentence


def score_answer(verifier: Verifier, question: str, contexts: Sequence[str], answer: str) -> AnswerScore:
    """Verify every sentence of `answer` against every context in one `support` call; see the module doc."""
    sentences = [answer[s:e] for s, e in sentence_spans(answer)] or [answer.strip()]
    pairs = [(s, c) for s in sentences for c in contexts]
    supports = verifier.support(question, pairs)
    if len(supports) != len(pairs):
        raise ValueError(f"verifier {verifier.name} returned {len(supports)} results for {len(pairs)} pairs")
    worst: AnswerScore | None = None
    k = len(contexts)
    for i, sentence in enumerate(sentences):
        group = supports[i * k : (i + 1) * k]
        best = max(group, key=lambda s: (s.supported, s.score))
        verdict = AnswerScore(best.score, best.supported, "" if best.supported else best.reason, sentence)
        if worst is None or (verdict.supported, verdict.score) < (worst.supported, worst.score):
            worst = verdict
    assert worst is not None
    return worst


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve of `scores` for `positives` (ties count half); None without both classes."""
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def figures(labels: Sequence[int], predicted_supported: Sequence[bool], scores: Sequence[float]) -> dict[str, Any]:
    """Balanced accuracy, precision/recall/F1 of the hallucinated class and AUROC (hallucination = low score)."""
    y = np.asarray(labels) == HALLUCINATED
    flagged = ~np.asarray(predicted_supported, dtype=bool)
    tp, fp = int((flagged & y).sum()), int((flagged & ~y).sum())
    fn, tn = int((~flagged & y).sum()), int((~flagged & ~y).sum())
    recall = tp / (tp + fn) if tp + fn else None
    specificity = tn / (tn + fp) if tn + fp else None
    precision = tp / (tp + fp) if tp + fp else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0 if recall is not None else None
    ba = (recall + specificity) / 2 if recall is not None and specificity is not None else None
    area = auroc([-v for v in scores], list(y))

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    return {
        "balanced_accuracy": r(ba),
        "precision_hallucinated": r(precision),
        "recall_hallucinated": r(recall),
        "f1_hallucinated": r(f1),
        "auroc": r(area),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def evaluate_rows(rows: Sequence[SuiteRow], verifier: Verifier) -> dict[str, Any]:
    """Run `verifier` on every row. An answer whose verification raises is counted in `n_failed` and left out of the
    figures (its error is listed in `failures`).

    Returns:
        `balanced_accuracy`, `precision_hallucinated`, `recall_hallucinated`, `f1_hallucinated`, `auroc`,
        `latency_ms_p50`, `rows` (answers scored), plus `latency_ms_p95`, `n_failed`, `failures`, `counts` per
        label, `confusion`, `verifier` and `mistakes` (the first ten wrong verdicts with their line numbers).
    """
    verifier.warm_up()
    labels: list[int] = []
    predicted: list[bool] = []
    scores: list[float] = []
    latencies: list[float] = []
    failures: list[dict[str, Any]] = []
    mistakes: list[dict[str, Any]] = []
    for row in rows:
        started = time.perf_counter()
        try:
            verdict = score_answer(verifier, row.question, row.contexts, row.answer)
        except Exception as e:  # a judge that times out or answers garbage: counted, not fatal
            failures.append({"line": row.line, "error": f"{type(e).__name__}: {e}"[:300]})
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        labels.append(row.label)
        predicted.append(verdict.supported)
        scores.append(verdict.score)
        if verdict.supported != (row.label == SUPPORTED) and len(mistakes) < 10:
            mistakes.append(
                {
                    "line": row.line,
                    "label": "supported" if row.label == SUPPORTED else "hallucinated",
                    "score": round(verdict.score, 4),
                    "answer": row.answer[:160],
                    "sentence": verdict.sentence[:160],
                    "reason": verdict.reason[:200],
                }
            )
    out: dict[str, Any] = figures(labels, predicted, scores) if labels else figures([], [], [])
    out.update(
        {
            "latency_ms_p50": round(percentile(latencies, 50), 3),
            "latency_ms_p95": round(percentile(latencies, 95), 3),
            "rows": len(labels),
            "n_failed": len(failures),
            "failures": failures[:10],
            "counts": {
                "supported": sum(v == SUPPORTED for v in labels),
                "hallucinated": sum(v == HALLUCINATED for v in labels),
            },
            "verifier": getattr(verifier, "name", type(verifier).__name__),
            "mistakes": mistakes,
        }
    )
    return out


def run_verify_suite(path: str | Path, verifier: Verifier, limit: int = 0, seed: int = 0) -> dict[str, Any]:
    """Load a suite (see `load_verify_suite`) and evaluate `verifier` on it (see `evaluate_rows`).

    Raises:
        InvalidInputError: see `load_verify_suite`.
    """
    return evaluate_rows(load_verify_suite(path, limit, seed), verifier)


def format_verify_report(result: dict[str, Any]) -> str:
    """The result of `run_verify_suite` as a few readable lines."""

    def cell(key: str) -> str:
        v = result.get(key)
        return "—" if v is None else f"{v:.3f}"

    counts = result.get("counts", {})
    lines = [
        f"Verify suite: {result['rows']} answers (supported {counts.get('supported', 0)}, hallucinated "
        f"{counts.get('hallucinated', 0)}) with verifier {result.get('verifier', '?')}"
        + (f"; {result['n_failed']} failed" if result.get("n_failed") else ""),
        f"latency per answer: p50 {result['latency_ms_p50']:.2f} ms, p95 {result.get('latency_ms_p95', 0.0):.2f} ms",
        "",
        f"{'balanced acc':>13}{'precision(h)':>14}{'recall(h)':>11}{'F1(h)':>8}{'AUROC':>8}",
        f"{cell('balanced_accuracy'):>13}{cell('precision_hallucinated'):>14}{cell('recall_hallucinated'):>11}"
        f"{cell('f1_hallucinated'):>8}{cell('auroc'):>8}",
    ]
    if result.get("mistakes"):
        lines += ["", "first mistakes:"]
        lines += [
            f"  line {m['line']} ({m['label']}, score {m['score']:.3f}): {m['sentence']!r}"
            + (f" — {m['reason']}" if m["reason"] else "")
            for m in result["mistakes"]
        ]
    if result.get("failures"):
        lines += ["", "failures:"] + [f"  line {f['line']}: {f['error']}" for f in result["failures"]]
    return "\n".join(lines)
