"""Shared fixtures: settings on a temp dir, services with a fake or the real embedder, a test client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
DEMO_DIR = REPO / "app" / "demo"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or a visible skip when the development data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"development data not available: {path}")
    return path


@pytest.fixture(scope="session")
def minilm():
    """The real packaged MiniLM, loaded once per test session."""
    from app.adapters.embedders import MiniLMEmbedder

    emb = MiniLMEmbedder(batch_size=16)
    emb.warm_up()
    return emb


def make_settings(tmp_path: Path, **overrides):
    from app.core.settings import Settings

    base = {"data_dir": tmp_path / "data", "env": "test", "models": {"embedder": "hash"}}
    base.update(overrides)
    return Settings(**base)


def make_services(settings, embedder=None):
    from app.container import build_services

    svc = build_services(settings, embedder=embedder)
    svc.warm_up()
    svc.runner.start()
    return svc


@pytest.fixture
def services(tmp_path: Path) -> Iterator:
    """Embedded services with the deterministic hash embedder (fast, no model)."""
    svc = make_services(make_settings(tmp_path))
    yield svc
    svc.close()


@pytest.fixture
def client(services):
    from fastapi.testclient import TestClient

    from app.api.main import create_app

    with TestClient(create_app(services.settings, services=services)) as c:
        yield c
