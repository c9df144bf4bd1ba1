"""Precision and recall of FAQ matching on the labelled HR set in tests/faq/labelled (English and Chinese).

`hr_faq.jsonl`: 40 entries (30 English, 10 Chinese); `hr_probes.jsonl`: 142 probes — reworded questions that must
match their entry, questions that only share a topic with an entry and unrelated ones that must match nothing.
A probe that matches the wrong entry counts as a false positive and a miss.

    python -m tests.faq.quality            # figures with the real MiniLM at several thresholds
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.core.ports import Embedder
from app.faq.matcher import FaqMatcher, IndexedEntry

DATA = Path(__file__).parent / "labelled"


def load() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    entries = [json.loads(line) for line in (DATA / "hr_faq.jsonl").read_text(encoding="utf-8").splitlines()]
    probes = [json.loads(line) for line in (DATA / "hr_probes.jsonl").read_text(encoding="utf-8").splitlines()]
    return entries, probes


def indexed(entries: list[dict[str, Any]]) -> list[IndexedEntry]:
    return [
        IndexedEntry(str(i), e["question"], e["answer"], 1, tuple(e.get("alt_questions", [])))
        for i, e in enumerate(entries)
    ]


def evaluate(embedder: Embedder, thresholds: Iterable[float], **matcher_args: Any) -> dict[float, dict[str, Any]]:
    """Per threshold and language (en, zh, all): precision, recall and the counts behind them."""
    entries, probes = load()
    matcher = FaqMatcher(embedder, **matcher_args)
    index = matcher.build(indexed(entries))
    best = []
    for p in probes:
        top = matcher.rank(index, p["question"], limit=1)
        best.append((top[0].entry.question, top[0].score) if top else (None, 0.0))
    out: dict[float, dict[str, Any]] = {}
    for th in thresholds:
        out[th] = {}
        for lang in ("en", "zh", "all"):
            tp = fp = fn = 0
            for p, (question, score) in zip(probes, best, strict=True):
                if lang != "all" and p["lang"] != lang:
                    continue
                got = question if score >= th else None
                if p["expect"] is not None and got == p["expect"]:
                    tp += 1
                    continue
                fp += got is not None
                fn += p["expect"] is not None
            precision = tp / (tp + fp) if tp + fp else 1.0
            recall = tp / (tp + fn) if tp + fn else 1.0
            out[th][lang] = {"precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn}
    return out


def report(results: dict[float, dict[str, Any]]) -> str:
    lines = ["threshold  lang  precision  recall   tp  fp  fn"]
    for th, by_lang in results.items():
        for lang, r in by_lang.items():
            counts = f"{r['tp']:3d} {r['fp']:3d} {r['fn']:3d}"
            lines.append(f"{th:9.2f}  {lang:<4}  {r['precision']:9.3f}  {r['recall']:6.3f}  {counts}")
    return "\n".join(lines)


if __name__ == "__main__":
    from app.adapters.embedders import MiniLMEmbedder

    emb = MiniLMEmbedder(batch_size=32)
    emb.warm_up()
    print(report(evaluate(emb, (0.70, 0.74, 0.78, 0.82, 0.86, 0.90))))
