"""OpenAPI fuzz run of the HTTP API with schemathesis: server errors (5xx) and responses that break their schema.

Starts `grounded serve` on loopback against a temporary data dir (hash embedder, auth on with a random admin key,
rate limit off), ingests the demo collection and a `scratch` one, then runs `schemathesis run` against /openapi.json
with the admin key: all phases (examples, coverage, fuzzing, stateful with the links schemathesis infers), all
checks. Half of the generated values are swapped for real ones (schemathesis dictionaries): collection names,
document and job ids, templates, filter keys, tenants and refused URLs, so that the fuzzer reaches retrieval,
answers, re-indexing and key creation instead of stopping at 404/422. DELETE operations only ever get the scratch
collection and document (or ids that do not exist): otherwise the resource pool feeds `demo` from GET
/v1/collections into DELETE and every later request meets an empty service. After the run, every ingest job the
fuzzer started is read back: a file that failed with `internal` is a server fault that no HTTP status shows.
Prints the failures per operation and a summary; writes bench-out/fuzz_openapi.json, the schemathesis reports
(bench-out/fuzz_openapi/: JSON, NDJSON events, HAR of every request), its config and the server log.

    .venv/bin/python benchmarks/fuzz_openapi.py [--max-examples 50] [--max-time 600] [--seed 1]

Checks: `all`, none excluded. Inert here: `ignored_auth` and `object_level_authorization` (no security scheme is
declared), `missing_required_header` (no header is declared); `use_after_free` and `ensure_resource_availability`
run in the stateful phase on the links schemathesis infers from parameter names. Not reached: file parsing, since
schemathesis names every uploaded file `files` (no extension), so uploads stop at 415. `--max-time` is a cap (the
run is interrupted, reports kept), not schemathesis's `--max-time`, a budget that repeats fuzzing until spent.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from common import OUT, REPO

DEMO = REPO / "app" / "demo"
TEMPLATES = ["general", "manual", "book", "laws", "qa", "table", "paper", "slides", "email", "auto"]
FILTER_KEYS = ["file_type", "document_id", "external_id", "title", "page", "created_at", "section", "meta.year"]
NEW_COLLECTIONS = ["fuzz-1", "fuzz_2.x", "demo", "a" * 64]  # valid names, and one that exists (409)
TENANTS = ["default", "tenant-2"]
MISSING_ID = "00000000-0000-0000-0000-000000000000"
# Refused before any connection (loopback, link-local metadata, private, bad scheme): the run never leaves the host.
URLS = ["http://127.0.0.1:1/x", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/a.pdf", "ftp://x/y"]
EXCERPT = 300


@contextlib.contextmanager
def serving(data_dir: Path, port: int, env: dict[str, str], log: Path) -> Iterator[httpx.Client]:
    """Like common.serving, but keeps the server's log: a 5xx is diagnosed by its traceback."""
    env = {**os.environ, **env, "GROUNDED_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(240):
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/readyz").status_code == 200:
                        break
                if server.poll() is not None:
                    sys.exit(f"server exited with {server.returncode}; see {log}")
                time.sleep(0.5)
            else:
                sys.exit("server did not become ready")
            yield client
    finally:
        server.terminate()
        server.wait(timeout=30)


def ingest(client: httpx.Client, collection: str, files: list[Path]) -> dict[str, Any]:
    """Create `collection`, upload `files`, wait for the job; return its ids."""
    client.post("/v1/collections", json={"name": collection}).raise_for_status()
    parts = [("files", (f.name, f.read_bytes())) for f in files]
    up = client.post(f"/v1/collections/{collection}/documents", files=parts)
    up.raise_for_status()
    job_id = up.json()["job_id"]
    for _ in range(240):
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "partial", "failed"):
            break
        time.sleep(0.5)
    if job["status"] != "succeeded":
        sys.exit(f"ingesting {collection} ended {job['status']}: {job.get('error')}")
    return {"collection": collection, "job_id": job_id, "document_ids": up.json()["document_ids"]}


def write_config(path: Path, demo: dict[str, Any], scratch: dict[str, Any]) -> None:
    """schemathesis.toml: real values mixed into half of the draws; DELETEs only ever get scratch or missing ids."""
    dictionaries = {
        "collection": [demo["collection"]],
        "document": demo["document_ids"],
        "job": [demo["job_id"], scratch["job_id"]],
        "template": TEMPLATES,
        "filter_key": FILTER_KEYS,
        "url": URLS,
        "name": NEW_COLLECTIONS,
        "tenant": TENANTS,
        "scratch_collection": [scratch["collection"], "no-such-collection"],
        "scratch_document": [*scratch["document_ids"], MISSING_ID],
    }

    def bind(name: str, probability: float = 0.5) -> str:
        return f'{{ dictionary = "{name}", probability = {probability} }}'

    lines = [f"[dictionaries.{k}]\nvalues = {json.dumps(v)}\n" for k, v in dictionaries.items()]
    params = {
        "path.collection": "collection",
        "body.collection": "collection",
        "path.document_id": "document",
        "path.job_id": "job",
        "body.template": "template",
        "body.urls[*]": "url",
        **{f"body.{f}.{c}[*].key": "filter_key" for f in ("filters", "soft_filters") for c in ("must", "should")},
        "body.name": "name",
        "body.tenant": "tenant",
    }
    lines.append("[parameters]\n" + "".join(f'"{k}" = {bind(v)}\n' for k, v in params.items()))
    lines.append(
        '[[operations]]\ninclude-method = "DELETE"\n'
        f'parameters = {{ "path.collection" = {bind("scratch_collection", 1.0)}, '
        f'"path.document_id" = {bind("scratch_document", 1.0)} }}\n'
    )
    path.write_text("\n".join(lines))


def run_schemathesis(cmd: list[str], cwd: Path, cap_s: float) -> tuple[int, bool]:
    """Run the CLI; at the cap send SIGINT (schemathesis then finishes its reports), SIGKILL a minute later."""
    proc = subprocess.Popen(cmd, cwd=cwd)
    try:
        return proc.wait(timeout=cap_s), False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=60), True
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(), True


def har_body(entry: dict[str, Any]) -> str:
    content = entry["response"].get("content") or {}
    text = content.get("text") or ""
    return base64.b64decode(text).decode("utf-8", "replace") if content.get("encoding") == "base64" else text


def started_jobs(har: dict[str, Any]) -> list[str]:
    """Ids of the jobs that 202 responses (uploads, URLs, re-indexing) started, in order."""
    ids: list[str] = []
    for entry in har["log"]["entries"]:
        if entry["response"]["status"] == 202:
            with contextlib.suppress(ValueError, AttributeError):
                body = json.loads(har_body(entry))
                ids.append(body.get("job_id") or body.get("id"))
    return [i for i in dict.fromkeys(ids) if i]


def job_outcomes(client: httpx.Client, job_ids: list[str], wait_s: float = 120) -> dict[str, Any]:
    """Final status of every job and the failure codes of its files; `internal` failures listed."""
    deadline = time.monotonic() + wait_s
    statuses: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    internal: list[dict[str, Any]] = []
    for job_id in job_ids:
        while True:
            r = client.get(f"/v1/jobs/{job_id}")
            job: dict[str, Any] = r.json() if r.status_code == 200 else {"status": f"http {r.status_code}"}
            if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        statuses[job["status"]] += 1
        for f in job.get("files", []):
            if f.get("code"):
                codes[f["code"]] += 1
            if f.get("code") == "internal":
                internal.append({"job_id": job_id, "filename": f.get("filename"), "reason": f.get("reason")})
    return {"jobs": len(job_ids), "status": dict(statuses), "file_codes": dict(codes), "internal": internal}


def operation_matcher(openapi: dict[str, Any]) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path regex, label) for every operation; literal paths first so /v1/audit/verify is not {x}."""
    ops = []
    for path, methods in openapi["paths"].items():
        regex = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")
        for method in methods:
            ops.append((method.upper(), regex, f"{method.upper()} {path}"))
    return sorted(ops, key=lambda o: o[2].count("{"))


def label_of(ops: list[tuple[str, re.Pattern[str], str]], method: str, url: str) -> str:
    path = httpx.URL(url).raw_path.decode().split("?")[0]
    # The rest are unsupported_method / allow_header_conformance probes (PUT, TRACE... on a declared path).
    return next((lbl for m, rx, lbl in ops if m == method and rx.match(path)), "method not in the schema")


def text_of(payload: dict[str, Any] | None) -> str:
    if not payload:
        return ""
    raw = base64.b64decode(payload["$base64"]) if "$base64" in payload else str(payload).encode()
    return raw.decode("utf-8", "replace")


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def cause(body: str) -> str:
    """What the server said, without the echoed input: splits one check's failures by their reason."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return body[:40]
    if isinstance(detail, list):
        return "validation: " + ",".join(sorted({str(e.get("type")) for e in detail if isinstance(e, dict)}))
    return re.split(r"[:'\"]", str(detail))[0][:80]


def excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT] + f"... ({len(text)} chars)"


def failures(ndjson: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Failed checks with the request and response that triggered them, deduplicated; and non-fatal errors."""
    found: dict[tuple, dict[str, Any]] = {}
    errors: list[dict[str, str]] = []
    for line in ndjson.read_text().splitlines():
        event = json.loads(line)
        if "NonFatalError" in event:
            info = event["NonFatalError"]
            errors.append({"label": info.get("label", ""), "error": excerpt(json.dumps(info.get("info", info)))})
        if "ScenarioFinished" not in event:
            continue
        rec = event["ScenarioFinished"]["recorder"]
        phase = event["ScenarioFinished"]["phase"]
        for case_id, checks in rec.get("checks", {}).items():
            for check in checks:
                if check["status"] != "failure":
                    continue
                f = check["failure_info"]["failure"]
                inter = rec["interactions"].get(case_id) or {}
                req, resp = inter.get("request", {}), inter.get("response") or {}
                status = resp.get("status_code")
                message = f["message"].strip()
                body = text_of(resp.get("content"))
                key = (f["operation"], check["name"], status, re.sub(r'".*"', '"…"', first_line(message)), cause(body))
                if key in found:
                    found[key]["occurrences"] += 1
                    continue
                case = rec["cases"].get(case_id, {}).get("value", {})
                found[key] = {
                    "operation": f["operation"],
                    "check": check["name"],
                    "code": f["code"],
                    "title": f["title"],
                    "status": status,
                    "phase": phase,
                    "mode": case.get("meta", {}).get("generation", {}).get("mode"),
                    "request": f"{req.get('method')} {req.get('uri')}",
                    "request_body": excerpt(text_of(req.get("body"))),
                    "response_body": excerpt(body),
                    "message": excerpt(message),
                    "occurrences": 1,
                }
    return sorted(found.values(), key=lambda f: (f["operation"], f["check"], str(f["status"]))), errors


def server_exceptions(log: Path) -> Counter[str]:
    """The last line of every traceback in the server log (the exception), counted."""
    seen: Counter[str] = Counter()
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith(" ") or lines[j].startswith("Traceback")):
                j += 1
            if j < len(lines):
                seen[lines[j][:200]] += 1
    return seen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-examples", type=int, default=50, help="test cases per operation and phase")
    ap.add_argument("--max-time", type=float, default=600, help="wall-clock cap of the schemathesis run (s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=18741)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--checks", default="all")
    ap.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    args = ap.parse_args()

    report_dir = OUT / "fuzz_openapi"
    report_dir.mkdir(parents=True, exist_ok=True)
    for old in report_dir.iterdir():
        old.unlink()
    log = report_dir / "server.log"
    key = secrets.token_urlsafe(32)
    env = {
        "GROUNDED_MODELS__EMBEDDER": "hash",
        "GROUNDED_ENV": "test",
        "GROUNDED_ADMIN_KEY": key,
        "GROUNDED_RATE_LIMIT_PER_S": "0",
        "GROUNDED_URLS__TIMEOUT_S": "5",
    }
    with tempfile.TemporaryDirectory(prefix="grounded-fuzz-") as tmp:
        tmp_path = Path(tmp)
        with serving(tmp_path / "data", args.port, env, log) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            demo = ingest(client, "demo", sorted(DEMO.iterdir()))
            scratch = ingest(client, "scratch", sorted(DEMO.iterdir())[:1])
            openapi = client.get("/openapi.json").json()
            config = tmp_path / "schemathesis.toml"
            write_config(config, demo, scratch)
            cmd = [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file", str(config),
                "run", f"http://127.0.0.1:{args.port}/openapi.json",
                "-H", f"Authorization: Bearer {key}",
                "--checks", args.checks,
                "--phases", args.phases,
                "--max-examples", str(args.max_examples),
                "--seed", str(args.seed),
                "--workers", str(args.workers),
                "--continue-on-failure",
                "--request-timeout", "60",
                "--generation-database", "none",
                "--report", "json,ndjson,har",
                "--report-dir", str(report_dir),
                "--no-color",
            ]  # fmt: skip
            shown = " ".join(cmd).replace(key, "$KEY").replace(str(config), "schemathesis.toml")
            print(f"$ {shown}", flush=True)
            started = time.perf_counter()
            rc, capped = run_schemathesis(cmd, tmp_path, args.max_time)
            elapsed = time.perf_counter() - started
            har = json.loads(next(report_dir.glob("har-*.json")).read_text())
            jobs = job_outcomes(client, started_jobs(har))
        (report_dir / "schemathesis.toml").write_text(config.read_text())

    report = json.loads(next(report_dir.glob("json-*.json")).read_text())
    ops = operation_matcher(openapi)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for entry in har["log"]["entries"]:
        req = entry["request"]
        statuses[label_of(ops, req["method"], req["url"])][entry["response"]["status"]] += 1
    found, errors = failures(next(report_dir.glob("ndjson-*.ndjson")))
    by_check = Counter(f["check"] for f in found)
    server_error_count = sum(n for c in statuses.values() for s, n in c.items() if s >= 500)

    by_op: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in found:
        by_op[f["operation"]].append(f)
    for op, items in by_op.items():
        print(f"\n== {op}  ({dict(sorted(statuses.get(op, Counter()).items()))})")
        for f in items:
            print(f"  [{f['check']} {f['code']}] status {f['status']} x{f['occurrences']} ({f['phase']}, {f['mode']})")
            print(f"    request:  {f['request']}  {f['request_body'][:160]!r}")
            print(f"    response: {f['response_body'][:200]!r}")
            print(f"    why:      {first_line(f['message'])[:200]}")
    exceptions = server_exceptions(log)
    summary = {
        "command": shown,
        "schemathesis_exit_code": rc,
        "capped": capped,
        "elapsed_s": round(elapsed, 1),
        "operations_total": (report["operations"] or {}).get("total"),
        "operations_tested": (report["operations"] or {}).get("tested"),
        "phases": {k: v["status"] for k, v in (report["phases"] or {}).items()},
        "test_cases": report["test_cases"],
        "requests": sum(sum(c.values()) for c in statuses.values()),
        "server_errors": server_error_count,
        "schema_violations": by_check.get("response_schema_conformance", 0),
        "schema_violating_cases": sum(f["occurrences"] for f in found if f["check"] == "response_schema_conformance"),
        "ingest_jobs": jobs,
        "unique_failures": len(found),
        "unique_failures_by_check": dict(by_check.most_common()),
        "operations_with_failures": len(by_op),
        "run_errors": errors,
        "server_tracebacks": dict(exceptions.most_common()),
        "statuses_by_operation": {op: dict(sorted(c.items())) for op, c in sorted(statuses.items())},
        "failures": found,
    }
    (OUT / "fuzz_openapi.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    brief = {k: v for k, v in summary.items() if k not in ("failures", "statuses_by_operation")}
    print("\n" + json.dumps(brief, indent=2))
    print(f"\nfull report: {OUT / 'fuzz_openapi.json'}; schemathesis reports and server log: {report_dir}")


if __name__ == "__main__":
    main()
