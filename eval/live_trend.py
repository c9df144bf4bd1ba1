"""The live-scoring trend of a tenant's collections (`GET /v1/eval/live`): rolling faithfulness, refusal rate,
support distribution, a time series and the alerts.

Per collection: counts (sampled, scored, failed, skipped, pending), the rolling faithfulness of the last `window`
scored samples, the refusal rate and the support distribution over the last `window` samples, and `series` —
samples bucketed by `bucket_s` seconds (mean faithfulness, refusal rate, n) oldest first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.adapters.metadata_models import _utc
from eval.aggregate import percentile
from eval.store import SqlEvalStore

SUPPORT_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _support(values: list[float]) -> dict[str, Any]:
    hist = [0] * (len(SUPPORT_BINS) - 1)
    for v in values:
        i = min(len(hist) - 1, max(0, int(v * (len(hist)))))
        hist[i] += 1
    return {
        "mean": _mean(values),
        "p10": percentile(values, 10),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "bins": [{"low": SUPPORT_BINS[i], "high": SUPPORT_BINS[i + 1], "count": c} for i, c in enumerate(hist)],
    }


def collection_trend(rows: list[dict[str, Any]], window: int, bucket_s: int) -> dict[str, Any]:
    counts = {k: 0 for k in ("pending", "scored", "failed", "skipped")}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    scored = [r["faithfulness"] for r in rows if r["status"] == "scored" and r["faithfulness"] is not None]
    recent = rows[-window:]
    series: dict[int, dict[str, Any]] = {}
    for r in rows:
        t = _utc(r["created_at"])
        key = int(t.timestamp()) // bucket_s * bucket_s if t else 0
        b = series.setdefault(key, {"f": [], "refused": 0, "n": 0})
        b["n"] += 1
        b["refused"] += int(r["refused"])
        if r["status"] == "scored" and r["faithfulness"] is not None:
            b["f"].append(r["faithfulness"])
    return {
        "samples": len(rows),
        **counts,
        "rolling_faithfulness": _mean(scored[-window:]),
        "rolling_window": len(scored[-window:]),
        "refusal_rate": _mean([float(r["refused"]) for r in recent]),
        "support": _support([float(r["support"]) for r in recent if not r["refused"]]),
        "series": [
            {
                "start": datetime.fromtimestamp(k, UTC).isoformat(),
                "faithfulness": _mean(b["f"]),
                "refusal_rate": round(b["refused"] / b["n"], 4),
                "n": b["n"],
            }
            for k, b in sorted(series.items())
        ],
    }


def live_trend(
    store: SqlEvalStore,
    tenant: str,
    collection: str | None = None,
    window: int = 50,
    since: datetime | None = None,
    bucket_s: int = 3600,
    threshold: float | None = None,
) -> dict[str, Any]:
    """The trend per collection of this tenant (only the named one when given) plus its alerts."""
    rows = store.live_rows(tenant, collection, since)
    by_collection: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_collection.setdefault(r["collection"], []).append(r)
    return {
        "window": window,
        "bucket_s": bucket_s,
        "threshold": threshold,
        "collections": {c: collection_trend(rs, window, bucket_s) for c, rs in sorted(by_collection.items())},
        "alerts": store.list_alerts(tenant, collection),
    }
