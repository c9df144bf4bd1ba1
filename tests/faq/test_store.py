"""SqlFaqStore contract: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from app.core.errors import ConflictError, NotFoundError
from app.faq.importing import EntryFields
from app.faq.store import SqlFaqStore

PROBATION = EntryFields("How long is the probation period?", "Six months.", ("Probation length?",), ("contract",))
LEAVE = EntryFields("How many days of annual leave do I get?", "25 days.")


class TestEntries:
    def test_create_get_and_list_pages(self, store: SqlFaqStore, tenant: str) -> None:
        created = [store.create(tenant, "hr", EntryFields(f"Question {i}?", f"Answer {i}."), "k1") for i in range(5)]
        first = created[0]
        assert first["version"] == 1 and first["hits"] == 0 and first["created_by"] == first["updated_by"] == "k1"
        assert store.get(tenant, first["id"]) == first
        page, total = store.list(tenant, "hr", limit=2, offset=2)
        assert total == 5 and [e["question"] for e in page] == ["Question 2?", "Question 3?"]
        assert store.list(tenant, "other")[1] == 0

    def test_every_read_and_write_is_scoped_to_the_tenant(self, store: SqlFaqStore, tenant: str) -> None:
        entry = store.create(tenant, "hr", PROBATION, "k1")
        other = tenant + "x"
        with pytest.raises(NotFoundError):
            store.get(other, entry["id"])
        with pytest.raises(NotFoundError):
            store.update(other, entry["id"], LEAVE, "k2")
        with pytest.raises(NotFoundError):
            store.delete(other, entry["id"], "k2")
        with pytest.raises(NotFoundError):
            store.versions(other, entry["id"])
        assert store.list(other, "hr") == ([], 0) and store.active_entries(other, "hr") == []
        assert store.get(tenant, entry["id"])["version"] == 1

    def test_a_question_is_unique_per_collection_among_live_entries(self, store: SqlFaqStore, tenant: str) -> None:
        entry = store.create(tenant, "hr", PROBATION, "k1")
        with pytest.raises(ConflictError):
            store.create(tenant, "hr", EntryFields("how long is the  PROBATION period", "Other."), "k1")
        store.create(tenant, "other-collection", PROBATION, "k1")
        store.create(tenant + "x", "hr", PROBATION, "k1")
        store.delete(tenant, entry["id"], "k1")
        assert store.create(tenant, "hr", PROBATION, "k1")["id"] != entry["id"]


class TestVersions:
    def test_updates_bump_the_version_and_keep_every_version(self, store: SqlFaqStore, tenant: str) -> None:
        entry = store.create(tenant, "hr", PROBATION, "k1")
        v2 = store.update(tenant, entry["id"], EntryFields(PROBATION.question, "Three months."), "k2", 1)
        assert v2["version"] == 2 and v2["answer"] == "Three months." and v2["updated_by"] == "k2"
        history = store.versions(tenant, entry["id"])
        assert [(v["version"], v["kind"], v["answer"]) for v in history] == [
            (1, "create", "Six months."),
            (2, "update", "Three months."),
        ]
        assert history[0]["alt_questions"] == ["Probation length?"] and history[1]["changed_by"] == "k2"

    def test_a_stale_expected_version_is_a_conflict(self, store: SqlFaqStore, tenant: str) -> None:
        entry = store.create(tenant, "hr", PROBATION, "k1")
        store.update(tenant, entry["id"], LEAVE, "k1", expected_version=1)
        with pytest.raises(ConflictError, match="version 2, not 1"):
            store.update(tenant, entry["id"], PROBATION, "k2", expected_version=1)
        with pytest.raises(ConflictError):
            store.delete(tenant, entry["id"], "k2", expected_version=1)
        assert store.get(tenant, entry["id"])["question"] == LEAVE.question

    def test_delete_is_soft_and_an_earlier_version_can_be_restored(self, store: SqlFaqStore, tenant: str) -> None:
        entry = store.create(tenant, "hr", PROBATION, "k1")
        store.update(tenant, entry["id"], EntryFields(PROBATION.question, "Wrong."), "k1")
        deleted = store.delete(tenant, entry["id"], "k1")
        assert deleted["deleted"] and deleted["version"] == 3
        with pytest.raises(NotFoundError):
            store.get(tenant, entry["id"])
        assert store.list(tenant, "hr")[1] == 0 and store.list(tenant, "hr", include_deleted=True)[1] == 1
        restored = store.restore(tenant, entry["id"], 1, "k2")
        assert (restored["version"], restored["answer"], restored["deleted"]) == (4, "Six months.", False)
        assert [v["kind"] for v in store.versions(tenant, entry["id"])] == ["create", "update", "delete", "restore"]
        with pytest.raises(NotFoundError):
            store.restore(tenant, entry["id"], 99, "k2")

    def test_restoring_a_question_another_entry_now_has_is_a_conflict(self, store: SqlFaqStore, tenant: str) -> None:
        entry = store.create(tenant, "hr", PROBATION, "k1")
        store.update(tenant, entry["id"], LEAVE, "k1")
        store.create(tenant, "hr", PROBATION, "k1")
        with pytest.raises(ConflictError):
            store.restore(tenant, entry["id"], 1, "k1")
        assert store.get(tenant, entry["id"])["version"] == 2


class TestHitsImportAndFingerprint:
    def test_hits_are_counted_atomically(self, store: SqlFaqStore, tenant: str) -> None:
        entry = store.create(tenant, "hr", PROBATION, "k1")

        def hit() -> None:
            for _ in range(20):
                assert store.record_hit(entry["id"])

        threads = [threading.Thread(target=hit) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = store.get(tenant, entry["id"])
        assert after["hits"] == 100 and after["last_hit_at"] and after["version"] == 1
        assert store.record_hit("no-such-entry") is False

    def test_import_upserts_by_question_and_replace_deletes_the_rest(self, store: SqlFaqStore, tenant: str) -> None:
        kept = store.create(tenant, "hr", PROBATION, "k1")
        dropped = store.create(tenant, "hr", LEAVE, "k1")
        rows = [PROBATION, EntryFields("Is overtime paid?", "Yes.")]
        result = store.apply_import(tenant, "hr", rows, "k2")
        assert {k: result[k] for k in ("created", "updated", "unchanged", "deleted")} == {
            "created": 1, "updated": 0, "unchanged": 1, "deleted": 0,
        }  # fmt: skip
        changed = [EntryFields(PROBATION.question, "Three months."), rows[1]]
        result = store.apply_import(tenant, "hr", changed, "k2", replace=True)
        assert (result["updated"], result["unchanged"], result["deleted"]) == (1, 1, 1)
        assert store.get(tenant, kept["id"])["version"] == 2
        assert [v["kind"] for v in store.versions(tenant, kept["id"])] == ["create", "import"]
        with pytest.raises(NotFoundError):
            store.get(tenant, dropped["id"])

    def test_fingerprint_changes_with_every_write(self, store: SqlFaqStore, tenant: str) -> None:
        seen = {store.fingerprint(tenant, "hr")}
        entry = store.create(tenant, "hr", PROBATION, "k1")
        seen.add(store.fingerprint(tenant, "hr"))
        store.update(tenant, entry["id"], LEAVE, "k1")
        seen.add(store.fingerprint(tenant, "hr"))
        store.delete(tenant, entry["id"], "k1")
        seen.add(store.fingerprint(tenant, "hr"))
        assert len(seen) == 4
        store.record_hit(entry["id"])  # hits do not change what matches
        assert store.fingerprint(tenant, "hr") in seen

    def test_purge_removes_entries_and_history(self, store: SqlFaqStore, tenant: str) -> None:
        entry = store.create(tenant, "hr", PROBATION, "k1")
        store.create(tenant, "keep", PROBATION, "k1")
        assert store.purge_collection(tenant, "hr") == 1
        with pytest.raises(NotFoundError):
            store.versions(tenant, entry["id"])
        assert store.list(tenant, "keep")[1] == 1
