"""Posting a JSON alert to a configured webhook (httpx; a short timeout; the outcome is returned, never raised)."""

from __future__ import annotations

from typing import Any


def post_json(url: str, payload: dict[str, Any], timeout_s: float = 5.0) -> str:
    """POST `payload`; returns "sent <status>" or "failed: <reason>" (alerting must not take the scorer down)."""
    import httpx

    try:
        r = httpx.post(url, json=payload, timeout=timeout_s, follow_redirects=False)
        return f"sent {r.status_code}"
    except httpx.HTTPError as e:
        return f"failed: {type(e).__name__}: {e}"
