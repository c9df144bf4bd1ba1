"""The match index of each tenant's collection, cached in memory for FaqService (service.py).

An index is built on first use. A write through the service drops that collection's index at once (`invalidate`);
writes by another process are noticed within `refresh_s` (a cheap fingerprint query, the index is rebuilt only when
it changed). Embeddings are cached by text, so a rebuild embeds only new or changed questions.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from app.faq.matcher import FaqIndex, FaqMatcher, IndexedEntry
from app.faq.store import SqlFaqStore

_MAX_CACHED_VECTORS = 50_000


@dataclass
class _Cached:
    index: FaqIndex
    fingerprint: tuple[int, int, str | None]
    checked: float


class FaqIndexCache:
    """Usage::

    cache = FaqIndexCache(store, FaqMatcher(embedder), refresh_s=5.0)
    index = cache.get("acme", "hr")  # built on first use, reused while the collection is unchanged
    cache.invalidate("acme", "hr")  # after a write: the next get rebuilds
    """

    def __init__(self, store: SqlFaqStore, matcher: FaqMatcher, refresh_s: float) -> None:
        """Args:
        refresh_s: how long a cached index is trusted before checking for other processes' writes.
        """
        self.store = store
        self.matcher = matcher
        self.refresh_s = refresh_s
        self._indexes: dict[tuple[str, str], _Cached] = {}
        self._generations: dict[tuple[str, str], int] = {}
        self._vectors: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()

    def invalidate(self, tenant: str, collection: str) -> None:
        """Drop the collection's cached index; the next `get` rebuilds it."""
        key = (tenant, collection)
        with self._lock:
            self._generations[key] = self._generations.get(key, 0) + 1
            self._indexes.pop(key, None)

    def get(self, tenant: str, collection: str) -> FaqIndex:
        """The collection's index: cached, rebuilt when the collection changed."""
        key = (tenant, collection)
        now = time.monotonic()
        with self._lock:
            cached = self._indexes.get(key)
            generation = self._generations.get(key, 0)
        if cached is not None and now - cached.checked < self.refresh_s:
            return cached.index
        fingerprint = self.store.fingerprint(tenant, collection)
        if cached is not None and cached.fingerprint == fingerprint:
            cached.checked = now
            return cached.index
        with self._build_lock:  # one build at a time: concurrent first questions embed once, not N times
            with self._lock:
                fresh = self._indexes.get(key)
                if fresh is not None and fresh.fingerprint == fingerprint:
                    return fresh.index
            rows = self.store.active_entries(tenant, collection)
            entries = [
                IndexedEntry(r["id"], r["question"], r["answer"], r["version"], tuple(r["alt_questions"])) for r in rows
            ]
            if len(self._vectors) > _MAX_CACHED_VECTORS:
                self._vectors.clear()
            index = self.matcher.build(entries, self._vectors)
        with self._lock:
            if self._generations.get(key, 0) == generation:  # no write through this service while building
                self._indexes[key] = _Cached(index, fingerprint, now)
        return index
