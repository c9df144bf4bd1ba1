"""The `grounded` CLI as a user runs it: a real subprocess per command, on one shared data dir (hash embedder).

Every invocation starts a Python process (a few seconds), so the module ingests once and the tests read from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_DIR, REPO

CORPUS = [
    {"_id": "reef", "title": "Coral reefs", "text": "Coral reefs bleach when ocean water temperatures rise too high."},
    {"_id": "soil", "title": "Volcanic soils", "text": "Volcanic soils are rich in minerals and feed island farms."},
    {"_id": "bees", "title": "Honeybees", "text": "Honeybees tell hive mates where flowers are with a waggle dance."},
]
METRICS = {"ndcg@10", "recall@10", "recall@100", "mrr@10"}


def run_cli(
    data_dir: Path, *args: str, embedder: str = "hash", timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`grounded ARGS` in a subprocess on `data_dir`, with none of this shell's GROUNDED_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDED_")}
    env |= {"GROUNDED_DATA_DIR": str(data_dir), "GROUNDED_MODELS__EMBEDDER": embedder, "GROUNDED_ENV": "test"}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class Workspace:
    root: Path
    data_dir: Path
    demo: subprocess.CompletedProcess[str]
    corpus: subprocess.CompletedProcess[str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.data_dir, *args)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One data dir with the demo collection and a three-document BEIR corpus in collection `beir`."""
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in CORPUS), encoding="utf-8")
    data_dir = root / "data"
    demo = run_cli(data_dir, "ingest", str(DEMO_DIR), "--collection", "demo")
    beir = run_cli(data_dir, "ingest", str(corpus), "--collection", "beir", "--json")
    return Workspace(root, data_dir, demo, beir)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class TestIngest:
    def test_demo_folder_prints_a_summary(self, ws: Workspace) -> None:
        assert ws.demo.returncode == 0, ws.demo.stderr
        assert "succeeded" in ws.demo.stdout and "3 file(s) ok, 0 failed, 3 document(s)" in ws.demo.stdout
        assert "FAILED" not in ws.demo.stdout

    def test_beir_jsonl_is_one_document_per_line(self, ws: Workspace) -> None:
        job = as_json(ws.corpus)
        assert job["status"] == "succeeded" and "payload" not in job
        assert job["counts"]["documents"] == len(CORPUS) and job["counts"]["chunks"] >= len(CORPUS)

    def test_folder_with_bad_files_exits_1_and_names_the_reasons(self, ws: Workspace) -> None:
        folder = ws.root / "mixed"
        folder.mkdir()
        (folder / "good.txt").write_text("Refunds are paid within fourteen days of a return.", encoding="utf-8")
        (folder / "empty.txt").write_bytes(b"")
        (folder / "tool.xyz").write_bytes(b"\x00\x01binary")
        proc = ws.run("ingest", str(folder), "--collection", "mixed")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "partial" in proc.stdout and "1 file(s) ok, 2 failed" in proc.stdout
        failed = {line.split(":")[0].split()[-1]: line for line in proc.stdout.splitlines() if "FAILED" in line}
        assert set(failed) == {"empty.txt", "tool.xyz"}
        assert "[unsupported_type]" in failed["tool.xyz"] and "empty" in failed["empty.txt"].lower()

    def test_progress_bar_on_stderr(self, ws: Workspace) -> None:
        assert "[##############################]" in ws.demo.stderr and "files" in ws.demo.stderr

    def test_template_flags_and_reindex(self, ws: Workspace) -> None:
        law = ws.root / "rules.txt"
        law.write_text(
            "Article 1 Scope. These rules apply to all staff.\n\nArticle 2 Leave. Staff receive 25 days of leave."
            "\n\nArticle 3 Carry-over. Unused days expire in March.",
            encoding="utf-8",
        )
        proc = ws.run("ingest", str(law), "--collection", "rules", "--template", "general", "--json")
        assert as_json(proc)["status"] == "succeeded"
        bad = ws.run("ingest", str(law), "--collection", "rules", "--template", "nope")
        assert bad.returncode == 2 and "valid templates" in bad.stderr and "laws" in bad.stderr
        bad = ws.run("ingest", str(law), "--collection", "rules", "--template-params", "[1]")
        assert bad.returncode == 2 and "--template-params" in bad.stderr
        job = as_json(ws.run("reindex", "rules", "--template", "laws", "--json"))
        assert job["status"] == "succeeded" and job["counts"]["chunks"] == 3


class TestRetrieve:
    def test_json_chunks_carry_ids_scores_and_spans(self, ws: Workspace) -> None:
        data = as_json(ws.run("retrieve", "honeybees waggle dance flowers", "--collection", "beir", "--json"))
        chunks = data["chunks"]
        assert chunks and chunks[0]["external_id"] == "bees"
        for c in chunks:
            assert c["external_id"] in {d["_id"] for d in CORPUS}
            assert {"fused", "dense", "sparse"} <= set(c["scores"])
            assert 0 <= c["span"]["start"] < c["span"]["end"]

    def test_valid_filter_restricts_the_results(self, ws: Workspace) -> None:
        flt = json.dumps({"must": [{"key": "external_id", "match": {"value": "soil"}}]})
        args = ("retrieve", "minerals in volcanic soils and coral reefs", "-c", "beir", "--filter", flt, "--json")
        chunks = as_json(ws.run(*args))["chunks"]
        assert chunks and {c["external_id"] for c in chunks} == {"soil"}

    def test_malformed_filter_exits_2_naming_the_problem(self, ws: Workspace) -> None:
        flt = json.dumps({"must": [{"key": "colour", "match": {"value": "red"}}]})
        proc = ws.run("retrieve", "reefs", "-c", "beir", "--filter", flt, "--json")
        assert proc.returncode == 2 and proc.stdout == ""
        assert "--filter" in proc.stderr and "colour" in proc.stderr and "Traceback" not in proc.stderr

    def test_unknown_collection_fails_with_a_message(self, ws: Workspace) -> None:
        proc = ws.run("retrieve", "reefs", "--collection", "nope", "--json")
        assert proc.returncode != 0
        assert "collection not found: nope" in proc.stderr and "Traceback" not in proc.stderr


def test_ask_json_shape(ws: Workspace) -> None:
    question = "How many days of paid annual leave do full-time employees receive per calendar year?"
    data = as_json(ws.run("ask", question, "--collection", "demo", "--json"))
    assert {"answer", "refused", "reason", "citations"} <= set(data)
    assert isinstance(data["answer"], str) and data["answer"]
    # The hash embedder is deterministic: this question shares enough words with the handbook to be answered.
    assert data["refused"] is False and data["citations"], data
    for c in data["citations"]:
        assert {"n", "chunk_id", "document_id", "external_id", "text", "page", "section_path"} <= set(c)
    assert data["citations"][0]["external_id"] == "employee-handbook.md"


def test_eval_retrieval_reports_metrics(ws: Workspace) -> None:
    queries, qrels = ws.root / "queries.jsonl", ws.root / "qrels.tsv"
    # Query text = the document's text, so every relevant document must be found.
    queries.write_text("".join(json.dumps({"_id": f"q-{d['_id']}", "text": d["text"]}) + "\n" for d in CORPUS))
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q-{d['_id']}\t{d['_id']}\t1\n" for d in CORPUS))
    args = ("eval", "retrieval", "-c", "beir", "--queries", str(queries), "--qrels", str(qrels), "--json")
    data = as_json(ws.run(*args))
    assert set(data) == METRICS | {"latency_ms_p50", "latency_ms_p95", "queries", "mode"}
    assert data["mode"] == "hybrid" and data["queries"] == len(CORPUS)
    assert all(0.0 <= data[m] <= 1.0 for m in METRICS)
    assert data["recall@10"] == 1.0 and data["recall@100"] == 1.0
    assert 0 <= data["latency_ms_p50"] <= data["latency_ms_p95"]
