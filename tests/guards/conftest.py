"""One guard per session: the committed classifier loads once."""

from __future__ import annotations

import pytest

from app.guards.detector import Guard


@pytest.fixture(scope="session")
def guard() -> Guard:
    g = Guard()
    g.warm_up()
    return g


@pytest.fixture(scope="session")
def rules_guard() -> Guard:
    """Rules only: what fires without the classifier."""
    return Guard(use_classifier=False)
