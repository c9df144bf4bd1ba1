"""FaqService: the standard Q&A library of each tenant and collection — CRUD with versions, bulk import, matching.

The answer service calls `match(tenant, collection, question)` before retrieval; on a match it returns the approved
answer (`source: faq`) and calls `record_hit(entry_id)`.

Matching uses an in-memory index per (tenant, collection), built on first use and kept by `FaqIndexCache`
(index_cache.py). A write through this service drops that collection's index at once; writes by another process are
noticed within `refresh_s`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from app.core.errors import InvalidInputError
from app.core.ports import Embedder
from app.faq.importing import (
    EntryFields,
    FieldError,
    clean_active,
    clean_alt_questions,
    clean_answer,
    clean_question,
    clean_tags,
    parse_file,
    validate,
    validate_rows,
)
from app.faq.index_cache import FaqIndexCache
from app.faq.matcher import FaqMatch, FaqMatcher
from app.faq.store import SqlFaqStore

log = logging.getLogger(__name__)

IMPORT_MODES = ("upsert", "replace")
Entries = list[dict[str, Any]]
Matches = list[FaqMatch]
Texts = list[str]
RowsIn = Sequence[tuple[int, Mapping[str, Any]]] | Sequence[Mapping[str, Any]]


class FaqService:
    """Usage::

    faq = FaqService(SqlFaqStore(metadata), embedder, threshold=0.82)
    entry = faq.create("acme", "hr", "How long is the probation period?", "Six months.", actor="key1")
    faq.match("acme", "hr", "How long does probation last?")  # → FaqMatch(entry_id=entry["id"], ...)
    """

    def __init__(
        self,
        store: SqlFaqStore,
        embedder: Embedder,
        threshold: float = 0.82,
        matcher: FaqMatcher | None = None,
        refresh_s: float = 5.0,
    ) -> None:
        """Args:
        threshold: the match score needed (0..1); ignored when `matcher` is given (it has its own).
        matcher: a configured matcher; default `FaqMatcher(embedder, threshold)`.
        refresh_s: how long a cached index is trusted before checking for other processes' writes.

        Raises:
            ValueError: a threshold outside 0..1 or a negative `refresh_s`.
        """
        if refresh_s < 0:
            raise ValueError(f"refresh_s must be >= 0, got {refresh_s}")
        self.store = store
        self.matcher = matcher or FaqMatcher(embedder, threshold)
        self.refresh_s = refresh_s
        self._cache = FaqIndexCache(store, self.matcher, refresh_s)

    @property
    def threshold(self) -> float:
        return self.matcher.threshold

    # -- reads -------------------------------------------------------------------------------------------------

    def list(
        self, tenant: str, collection: str, limit: int = 100, offset: int = 0, include_deleted: bool = False
    ) -> dict[str, Any]:
        """A page of a collection's entries: `{"entries", "total", "limit", "offset"}`."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidInputError("limit must be 1..1000 and offset >= 0", "limit")
        items, total = self.store.list(tenant, collection, limit, offset, include_deleted)
        return {"entries": items, "total": total, "limit": limit, "offset": offset}

    def get(self, tenant: str, entry_id: str) -> dict[str, Any]:
        """Raises NotFoundError for an unknown, deleted or other tenant's entry."""
        return self.store.get(tenant, entry_id)

    def versions(self, tenant: str, entry_id: str) -> Entries:
        """The entry's history, oldest first (also of a deleted entry)."""
        return self.store.versions(tenant, entry_id)

    # -- writes ------------------------------------------------------------------------------------------------

    def create(
        self,
        tenant: str,
        collection: str,
        question: str,
        answer: str,
        alt_questions: Texts | None = None,
        tags: Texts | None = None,
        active: bool = True,
        actor: str = "",
    ) -> dict[str, Any]:
        """A new entry (version 1).

        Raises:
            InvalidInputError: an empty or too long field (`field` names it).
            ConflictError: a live entry of the collection has the same question.
        """
        raw = {"question": question, "answer": answer, "alt_questions": alt_questions, "tags": tags, "active": active}
        fields = _validated(raw)
        entry = self.store.create(tenant, collection, fields, actor)
        self.invalidate(tenant, collection)
        return entry

    def update(
        self,
        tenant: str,
        entry_id: str,
        *,
        question: str | None = None,
        answer: str | None = None,
        alt_questions: Texts | None = None,
        tags: Texts | None = None,
        active: bool | None = None,
        expected_version: int | None = None,
        actor: str = "",
    ) -> dict[str, Any]:
        """Change the given fields (None: keep); the version goes up by one.

        Raises:
            NotFoundError: no such live entry for this tenant.
            ConflictError: `expected_version` is stale, or the new question is another live entry's.
            InvalidInputError: a bad field.
        """
        current = self.store.get(tenant, entry_id)
        try:
            q = clean_question(question) if question is not None else current["question"]
            fields = EntryFields(
                q,
                clean_answer(answer) if answer is not None else current["answer"],
                clean_alt_questions(current["alt_questions"] if alt_questions is None else alt_questions, q),
                clean_tags(tags) if tags is not None else tuple(current["tags"]),
                clean_active(active) if active is not None else current["active"],
            )
        except FieldError as e:
            raise InvalidInputError(str(e), e.field) from e
        # Without an explicit expected version, the one just read: an edit in between is a conflict, not lost.
        expected = current["version"] if expected_version is None else expected_version
        entry = self.store.update(tenant, entry_id, fields, actor, expected)
        self.invalidate(tenant, entry["collection"])
        return entry

    def delete(
        self, tenant: str, entry_id: str, expected_version: int | None = None, actor: str = ""
    ) -> dict[str, Any]:
        """Soft delete (history kept, restorable). Raises NotFoundError, ConflictError."""
        entry = self.store.delete(tenant, entry_id, actor, expected_version)
        self.invalidate(tenant, entry["collection"])
        return entry

    def restore(
        self, tenant: str, entry_id: str, version: int, expected_version: int | None = None, actor: str = ""
    ) -> dict[str, Any]:
        """An earlier version's content becomes current, as a new version; a deleted entry comes back.

        Raises:
            NotFoundError: no such entry or version.
            ConflictError: stale `expected_version`, or the old question is now another live entry's.
        """
        entry = self.store.restore(tenant, entry_id, version, actor, expected_version)
        self.invalidate(tenant, entry["collection"])
        return entry

    def import_rows(
        self,
        tenant: str,
        collection: str,
        rows: RowsIn,
        mode: str = "upsert",
        actor: str = "",
    ) -> dict[str, Any]:
        """Import many entries at once, all or nothing.

        Args:
            rows: mappings with question, answer, alt_questions, tags, active — or (row number, mapping) pairs, so
                errors can name the file's rows (plain mappings are numbered from 1).
            mode: `upsert` adds new questions and updates changed ones; `replace` also deletes the live entries the
                rows do not name.

        Returns:
            `{"created", "updated", "unchanged", "deleted", "total", "ids"}`.

        Raises:
            InvalidInputError: an unknown mode.
            FaqImportError: any invalid row (`errors` lists each with its row number); nothing is stored.
        """
        if mode not in IMPORT_MODES:
            raise InvalidInputError(f"unknown import mode {mode!r}; valid: {', '.join(IMPORT_MODES)}", "mode")
        numbered: list[tuple[int, Mapping[str, Any]]] = [
            r if isinstance(r, tuple) else (i, r) for i, r in enumerate(rows, start=1)
        ]
        fields = validate_rows([(n, dict(r)) for n, r in numbered])
        result = self.store.apply_import(tenant, collection, fields, actor, replace=mode == "replace")
        self.invalidate(tenant, collection)
        counts = {k: v for k, v in result.items() if k != "ids"}
        log.info("faq import into %s/%s (%s): %s", tenant, collection, mode, counts)
        return result | {"total": len(fields)}

    def import_file(
        self,
        tenant: str,
        collection: str,
        data: bytes,
        filename: str = "",
        mode: str = "upsert",
        fmt: str | None = None,
        actor: str = "",
    ) -> dict[str, Any]:
        """Parse a CSV or JSONL file (see app/faq/importing.py) and `import_rows` it; adds `ignored_columns`."""
        if mode not in IMPORT_MODES:
            raise InvalidInputError(f"unknown import mode {mode!r}; valid: {', '.join(IMPORT_MODES)}", "mode")
        rows, ignored = parse_file(data, filename, fmt)
        return self.import_rows(tenant, collection, rows, mode, actor) | {"ignored_columns": ignored}

    def purge_collection(self, tenant: str, collection: str) -> int:
        """Remove a deleted collection's entries and history; returns how many entries went."""
        removed = self.store.purge_collection(tenant, collection)
        self.invalidate(tenant, collection)
        return removed

    # -- matching ----------------------------------------------------------------------------------------------

    def match(self, tenant: str, collection: str, question: str) -> FaqMatch | None:
        """The approved answer for `question` if an active entry scores at least the threshold, else None."""
        index = self._cache.get(tenant, collection)
        return self.matcher.match(index, question) if len(index) else None

    def candidates(self, tenant: str, collection: str, question: str, limit: int = 3) -> Matches:
        """The best entries with their scores, below the threshold too (for curators tuning questions)."""
        index = self._cache.get(tenant, collection)
        return [
            FaqMatch(s.entry.entry_id, s.variant, s.entry.answer, s.entry.version, round(s.score, 4),
                     round(s.semantic, 4), round(s.lexical, 4))
            for s in self.matcher.rank(index, question, limit)
        ]  # fmt: skip

    def record_hit(self, entry_id: str) -> None:
        """Count one answer served from the entry (atomic); an entry deleted meanwhile is skipped."""
        if not self.store.record_hit(entry_id):
            log.info("faq hit for a missing entry %s", entry_id)

    def invalidate(self, tenant: str, collection: str) -> None:
        """Drop the collection's cached index; the next match rebuilds it."""
        self._cache.invalidate(tenant, collection)


def _validated(raw: Mapping[str, Any]) -> EntryFields:
    try:
        return validate(raw)
    except FieldError as e:
        raise InvalidInputError(str(e), e.field) from e
