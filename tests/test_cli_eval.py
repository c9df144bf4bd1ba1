"""`grounded eval qa` as CI runs it: the committed example suite about the demo collection, real MiniLM, the
extractive generator and the fast verifier, with a quality gate — plus reports, baselines, failing gates (exit 1)
and bad suites (exit 2, row-level reasons).

The gate below is the one the README shows. It holds the service to what it measured on this suite
(refusal accuracy 1.00, false refusal 0.33, nDCG@10 1.00, citation precision 1.00) with room for noise: a change
that makes the service answer unanswerable questions, refuse most answerable ones or cite wrong passages fails CI.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_DIR, REPO
from tests.test_cli import run_cli as cli_subprocess

SUITE = REPO / "examples" / "eval" / "demo-suite.jsonl"
GATE = ["refusal_accuracy=0.8", "false_refusal_rate=0.5", "ndcg@10=0.8", "citation_precision=0.8"]

pytestmark = pytest.mark.slow


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with the real MiniLM (what the gate is about), not the tests' hash embedder."""
    return cli_subprocess(data_dir, *args, embedder="minilm", timeout=600)


@dataclass(frozen=True)
class Gated:
    root: Path
    data_dir: Path
    proc: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Gated:
    root = tmp_path_factory.mktemp("eval-cli")
    data_dir = root / "data"
    ingest = run_cli(data_dir, "ingest", str(DEMO_DIR), "--collection", "demo")
    assert ingest.returncode == 0, ingest.stderr
    proc = run_cli(
        data_dir,
        "eval",
        "qa",
        "--collection",
        "demo",
        "--suite",
        str(SUITE),
        "--judge",
        "none",
        "--report",
        str(root / "report.html"),
        "--junit",
        str(root / "junit.xml"),
        "--out",
        str(root / "run.json"),
        "--fail-under",
        *GATE,
    )
    return Gated(root, data_dir, proc)


def test_the_example_suite_passes_its_gate(gated: Gated) -> None:
    assert gated.proc.returncode == 0, gated.proc.stdout + gated.proc.stderr
    assert gated.proc.stdout.count("gate PASS") == len(GATE)
    run = json.loads((gated.root / "run.json").read_text())
    assert len(run["rows"]) == 30 and run["passed"] is True
    assert run["aggregate"]["refusal_accuracy"] >= 0.8
    suite_rows = [json.loads(line) for line in SUITE.read_text().splitlines() if line.strip()]
    unanswerable = {r["id"] for r in suite_rows if r.get("answerable") is False}
    assert {r["id"] for r in run["rows"] if not r["answerable"]} == unanswerable


def test_reports_are_written(gated: Gated) -> None:
    html = (gated.root / "report.html").read_text()
    assert "<svg" in html and "demo-suite" in html and "http://" not in html.replace("http://www.w3.org", "")
    junit = ET.parse(gated.root / "junit.xml").getroot()
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) >= 30 + len(GATE)


def test_json_output_baseline_and_a_failing_gate(gated: Gated) -> None:
    base = gated.root / "run.json"
    proc = run_cli(
        gated.data_dir,
        "eval",
        "qa",
        "--collection",
        "demo",
        "--suite",
        str(SUITE),
        "--judge",
        "none",
        "--json",
        "--limit",
        "5",
        "--baseline",
        str(base),
        "--fail-under",
        "latency_ms=0.001",
    )
    assert proc.returncode == 1, proc.stderr  # the latency gate cannot pass: exit 1
    out = json.loads(proc.stdout)
    assert set(out) >= {"aggregate", "rows", "comparison", "gates"}
    assert len(out["rows"]) == 5 and out["gates"][0]["passed"] is False
    assert out["comparison"]["base"] == json.loads(base.read_text())["run_id"]
    # The stored run id works as a baseline too.
    again = run_cli(
        gated.data_dir,
        "eval",
        "qa",
        "--collection",
        "demo",
        "--suite",
        str(SUITE),
        "--judge",
        "none",
        "--json",
        "--limit",
        "3",
        "--baseline",
        out["run_id"],
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["comparison"]["base"] == out["run_id"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"id": "a", "question": "ok?"}\n{"id": "a", "question": "again?"}\n', "line 2: duplicate id"),
        ('{"question": "x", "answerable": "maybe"}\n', "answerable"),
        ("not json\n", "line 1"),
    ],
)
def test_a_bad_suite_fails_before_any_model_loads(gated: Gated, content: str, words: str) -> None:
    bad = gated.root / "bad.jsonl"
    bad.write_text(content)
    proc = run_cli(gated.data_dir, "eval", "qa", "--collection", "demo", "--suite", str(bad), "--judge", "none")
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_unknown_collection_and_gate_typos(gated: Gated) -> None:
    proc = run_cli(gated.data_dir, "eval", "qa", "--collection", "nope", "--suite", str(SUITE), "--judge", "none")
    assert proc.returncode == 2 and "nope" in proc.stderr
    proc = run_cli(
        gated.data_dir, "eval", "qa", "--collection", "demo", "--suite", str(SUITE), "--fail-under", "faithfulnes=0.5"
    )
    assert proc.returncode == 2 and "faithfulnes" in proc.stderr
