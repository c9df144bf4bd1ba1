"""Helpers shared by the benchmark scripts (they print figures; they are not tests)."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = (REPO / ".." / "shared" / "data").resolve()
SCIFACT = SHARED / "retrieval" / "scifact"
OUT = REPO / "bench-out"

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def require(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"benchmark data missing: {path} (the development data lives in ../shared/data)")
    return path


def scifact_settings(data_dir: Path):
    from app.core.settings import Settings

    return Settings(data_dir=data_dir, env="test")


@contextlib.contextmanager
def serving(data_dir: Path, port: int, extra_env: dict[str, str] | None = None, timeout: float = 30) -> Iterator:
    """Start `grounded serve` on loopback against `data_dir`, yield an httpx client once /readyz answers, stop it."""
    import httpx

    env = {**os.environ, "GROUNDED_DATA_DIR": str(data_dir), **(extra_env or {})}
    cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout) as client:
            for _ in range(240):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            else:
                sys.exit("server did not become ready")
            yield client
    finally:
        server.terminate()
        server.wait(timeout=30)
