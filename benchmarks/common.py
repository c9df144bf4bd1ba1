"""Helpers shared by the benchmark scripts (they print figures; they are not tests)."""

from __future__ import annotations

import os
import resource
import sys
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
