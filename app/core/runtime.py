"""Process-wide environment defaults that must be set before numpy, torch or unstructured are imported."""

from __future__ import annotations

import os
from contextvars import ContextVar


def pin_threads() -> None:
    """Pin BLAS thread counts and switch off hub downloads and telemetry (each only when not set by the user).

    On 2 cores, default pools spin against each other (measured: a dense query 120 ms → 20 ms with
    OPENBLAS_NUM_THREADS=1). Only OpenBLAS is pinned: torch's own intra-op pool (OpenMP) must keep every core for
    embedding; OMP_NUM_THREADS=1 halved ingest throughput on 2 cores (measured 17 vs 30 chunks/s).
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")


# True while an evaluation run produces answers: those are suite traffic, not live traffic, so the live sampler
# (eval/live.py) leaves them out. A ContextVar: it holds for the evaluating thread only.
EVALUATING: ContextVar[bool] = ContextVar("grounded_evaluating", default=False)
