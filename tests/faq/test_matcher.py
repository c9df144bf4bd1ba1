"""FaqMatcher (scoring) and FaqService matching (index cache, invalidation, hits) with the hash embedder."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.adapters.embedders import HashEmbedder
from app.adapters.metadata_db import SqlMetadataStore
from app.faq import FaqMatch, FaqMatcher, FaqService, SqlFaqStore
from app.faq.matcher import IndexedEntry, cjk_share, features

ENTRIES = [
    IndexedEntry("probation", "How long is the probation period?", "Six months.", 3, ("Probation length?",)),
    IndexedEntry("dress", "What is the dress code?", "Business casual.", 1),
    IndexedEntry("leave", "年假有多少天？", "15天。", 1),
]


@pytest.fixture
def matcher() -> FaqMatcher:
    return FaqMatcher(HashEmbedder(dim=256))


class TestFaqMatcher:
    def test_construction(self) -> None:
        m = FaqMatcher(HashEmbedder(), threshold=0.9)
        assert (m.threshold, m.semantic_weight, m.cjk_semantic_weight) == (0.9, 0.7, 0.0)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"threshold": 1.5},
            {"semantic_weight": -0.1},
            {"cjk_semantic_weight": 2},
            {"lexical_full": 0},
            {"extra_penalty": 3},
        ],
    )
    def test_invalid_construction(self, kwargs: dict) -> None:
        with pytest.raises(ValueError, match="must be"):
            FaqMatcher(HashEmbedder(), **kwargs)

    def test_features_work_for_english_and_chinese(self) -> None:
        assert features("How many days of Annual Leave do employees get?") == {"day", "annual", "leave", "employe"}
        assert {"年假", "天", "年", "假"} <= features("年假有多少天？") and "多" not in features("年假有多少天？")
        assert cjk_share("年假 days") == pytest.approx(2 / 6) and cjk_share("123") == 0.0

    def test_the_same_question_matches_with_the_entry_version(self, matcher: FaqMatcher) -> None:
        found = matcher.match(matcher.build(ENTRIES), "how long is the probation period")
        assert isinstance(found, FaqMatch) and found.entry_id == "probation" and found.version == 3
        assert found.score >= matcher.threshold and found.answer == "Six months."

    def test_an_alternative_question_matches_and_is_named(self, matcher: FaqMatcher) -> None:
        found = matcher.match(matcher.build(ENTRIES), "Probation length")
        assert found is not None and found.entry_id == "probation" and found.question == "Probation length?"

    def test_unrelated_and_topic_only_questions_do_not_match(self, matcher: FaqMatcher) -> None:
        index = matcher.build(ENTRIES)
        for question in (
            "What is the capital of Australia?",
            "Can the probation period be extended for new managers?",
            "Is there a dress code for the summer party in Berlin?",
            "",
        ):
            assert matcher.match(index, question) is None, question

    def test_chinese_matches_lexically(self, matcher: FaqMatcher) -> None:
        index = matcher.build(ENTRIES)
        found = matcher.match(index, "年假有几天")
        assert found is not None and found.entry_id == "leave"
        assert matcher.match(index, "会议室怎么预订？") is None

    def test_embeddings_are_reused_by_text(self) -> None:
        calls: list[int] = []

        class Counting(HashEmbedder):
            def embed_batch(self, texts):  # type: ignore[no-untyped-def]
                calls.append(len(texts))
                return super().embed_batch(texts)

        m = FaqMatcher(Counting(dim=64))
        cache: dict[str, list[float]] = {}
        m.build(ENTRIES, cache)
        m.build([*ENTRIES, IndexedEntry("new", "Is overtime paid?", "Yes.", 1)], cache)
        assert calls == [4, 1]
        assert len(m.build([]).texts) == 0 and m.match(m.build([]), "anything") is None


class TestFaqServiceMatching:
    def test_writes_invalidate_the_index_at_once(self, faq: FaqService) -> None:
        entry = faq.create("t", "hr", "Is overtime paid?", "Time off in lieu.")
        assert faq.match("t", "hr", "is overtime paid").answer == "Time off in lieu."  # type: ignore[union-attr]
        faq.update("t", entry["id"], answer="Paid at 125%.")
        assert faq.match("t", "hr", "is overtime paid").answer == "Paid at 125%."  # type: ignore[union-attr]
        faq.update("t", entry["id"], active=False)
        assert faq.match("t", "hr", "is overtime paid") is None
        faq.update("t", entry["id"], active=True)
        faq.delete("t", entry["id"])
        assert faq.match("t", "hr", "is overtime paid") is None
        faq.restore("t", entry["id"], 1)
        restored = faq.match("t", "hr", "is overtime paid")
        assert restored is not None and (restored.version, restored.answer) == (6, "Time off in lieu.")

    def test_scoped_by_tenant_and_collection(self, faq: FaqService) -> None:
        faq.create("t", "hr", "Is overtime paid?", "Yes.")
        assert faq.match("t", "hr", "Is overtime paid?") is not None
        assert faq.match("other", "hr", "Is overtime paid?") is None
        assert faq.match("t", "it", "Is overtime paid?") is None

    def test_another_process_writes_are_seen_after_refresh(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/shared.db"
        one, two = SqlMetadataStore(url), SqlMetadataStore(url)
        try:
            writer = FaqService(SqlFaqStore(one), HashEmbedder(dim=256))
            reader = FaqService(SqlFaqStore(two), HashEmbedder(dim=256), refresh_s=0)
            assert reader.match("t", "hr", "Is overtime paid?") is None
            entry = writer.create("t", "hr", "Is overtime paid?", "Yes.")
            assert reader.match("t", "hr", "Is overtime paid?").entry_id == entry["id"]  # type: ignore[union-attr]
            writer.update("t", entry["id"], answer="No.")
            assert reader.match("t", "hr", "Is overtime paid?").answer == "No."  # type: ignore[union-attr]
        finally:
            one.close()
            two.close()

    def test_hits_are_recorded(self, faq: FaqService) -> None:
        entry = faq.create("t", "hr", "Is overtime paid?", "Yes.")
        found = faq.match("t", "hr", "Is overtime paid?")
        assert found is not None
        faq.record_hit(found.entry_id)
        faq.record_hit(found.entry_id)
        faq.record_hit("gone")  # an entry deleted meanwhile: no error
        assert faq.get("t", entry["id"])["hits"] == 2

    def test_concurrent_matches_and_writes(self, faq: FaqService) -> None:
        entries = [faq.create("t", "hr", f"Question number {i}?", f"Answer {i}.") for i in range(20)]
        failures: list[BaseException] = []

        def ask() -> None:
            try:
                for i in range(40):
                    found = faq.match("t", "hr", f"question number {i % 20}")
                    assert found is not None and found.answer.startswith("Answer")
            except BaseException as e:  # noqa: BLE001 - collected for the assertion below
                failures.append(e)

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for i, entry in enumerate(entries):
            faq.update("t", entry["id"], answer=f"Answer {i}, updated.")
        for t in threads:
            t.join()
        assert not failures
        assert faq.match("t", "hr", "Question number 7?").answer == "Answer 7, updated."  # type: ignore[union-attr]

    def test_invalid_service_arguments(self, faq: FaqService) -> None:
        with pytest.raises(ValueError):
            FaqService(faq.store, HashEmbedder(), refresh_s=-1)
        with pytest.raises(ValueError):
            FaqService(faq.store, HashEmbedder(), threshold=2)
