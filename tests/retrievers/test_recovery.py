"""RecallRecovery with a scripted search, the rewrites it uses, soft filters in the pre-filter, and the whole
retrieval path (intent, plan, recovery path, decisions) through the HTTP API on the embedded store."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from app.core.domain import Chunk, Decision, Query, RetrievalPlan, ScoredChunk
from app.core.errors import InvalidInputError
from app.core.filters import Filter, eq
from retrievers.postfilter import PassResult
from retrievers.prefilter import build_filter
from retrievers.recovery import RecallRecovery, merge_parts
from retrievers.rewrite import keywords, split_question


def chunk(cid: str, doc: str = "d1", position: int = 0, text: str = "") -> Chunk:
    return Chunk(
        id=cid,
        document_id=doc,
        tenant="default",
        collection="c",
        external_id=f"{doc}.txt",
        text=text or f"text of {cid}",
        position=position,
        start=0,
        end=10,
        content_hash=f"h-{cid}",
        doc_hash=f"dh-{doc}",
    )


def scored(cid: str, dense: float | None, doc: str = "d1", position: int = 0) -> ScoredChunk:
    return ScoredChunk(chunk(cid, doc, position), score=dense or 0.0, dense_score=dense)


def passing(*chunks: ScoredChunk) -> PassResult:
    ranked = tuple(ScoredChunk(c.chunk, c.score, c.dense_score, c.sparse_score, i) for i, c in enumerate(chunks, 1))
    return PassResult(ranked, tuple(Decision(c.chunk.id, True, "kept", "passed") for c in ranked))


EMPTY = PassResult(())
WEAK = passing(scored("w1", 0.2))
PLAN = RetrievalPlan(top_k=3)


@dataclass
class ScriptedSearch:
    """A fake `search(query, plan)`: answers by a function of the call and records every call."""

    answer: Callable[[Query, RetrievalPlan], PassResult]
    calls: list[tuple[Query, RetrievalPlan]] = field(default_factory=list)

    def __call__(self, query: Query, plan: RetrievalPlan) -> PassResult:
        self.calls.append((query, plan))
        return self.answer(query, plan)

    @property
    def texts(self) -> list[str]:
        return [q.text for q, _ in self.calls]


class TestConstruction:
    def test_defaults(self) -> None:
        r = RecallRecovery()
        assert r.evidence_floor == 0.40 and r.expander is None

    @pytest.mark.parametrize("kwargs", [{"keyword_sparse_boost": 0}, {"max_parts": 1}])
    def test_invalid(self, kwargs: dict) -> None:
        with pytest.raises(ValueError):
            RecallRecovery(**kwargs)


class TestInsufficient:
    def test_enough_evidence_is_not_insufficient(self) -> None:
        assert not RecallRecovery().insufficient(passing(scored("a", 0.7)), PLAN)

    def test_empty_or_below_the_floor_or_too_few_documents(self) -> None:
        r = RecallRecovery(evidence_floor=0.4)
        assert r.insufficient(EMPTY, PLAN)
        assert r.insufficient(WEAK, PLAN)
        one_doc = passing(scored("a", 0.8, "d1"), scored("b", 0.7, "d1"))
        assert r.insufficient(one_doc, RetrievalPlan(min_documents=2))
        assert not r.insufficient(one_doc, PLAN)


class TestSteps:
    def test_keywords_rescue_a_query_only_its_keywords_find(self) -> None:
        q = Query("What does the handbook say about the PTO carry-over limit?", "c")
        kw = keywords(q.text)
        good = passing(scored("k", 0.8))
        search = ScriptedSearch(lambda qq, p: good if qq.text == kw and p.sparse_weight > 1.0 else WEAK)
        result, path = RecallRecovery().run(q, PLAN, WEAK, search)
        assert result is good and path == ("first_pass", "keywords")
        assert kw == "handbook say PTO carry-over limit"
        (sent, plan), *_ = search.calls
        assert plan.sparse_weight == 2.0 and plan.dense_weight == PLAN.dense_weight and sent.filters == q.filters

    def test_split_merges_two_parts_each_represented(self) -> None:
        q = Query("What is the refund window and who approves exceptions?", "c")
        a = passing(scored("a1", 0.7, "refunds"), scored("a2", 0.6, "refunds"), scored("a3", 0.5, "refunds"))
        b = passing(scored("b1", 0.45, "approvals"), scored("a1", 0.75, "refunds"))

        def answer(qq: Query, _: RetrievalPlan) -> PassResult:
            return {"What is the refund window": a, "who approves exceptions?": b}.get(qq.text, WEAK)

        search = ScriptedSearch(answer)
        result, path = RecallRecovery().run(q, PLAN, WEAK, search)
        assert path == ("first_pass", "keywords", "split")
        assert [c.chunk.id for c in result.kept] == ["a1", "b1", "a2"]  # interleaved, deduplicated, cut to top_k
        assert [c.rank for c in result.kept] == [1, 2, 3]
        assert result.kept[0].dense_score == 0.75  # the duplicate keeps its best score
        why = {d.chunk_id: d for d in result.decisions}
        assert why["a1"].kept and "part 1" in why["a1"].reason and "part 2" in why["a1"].reason
        assert why["b1"].kept and "who approves" in why["b1"].reason
        assert not why["a3"].kept and why["a3"].stage == "top_k"

    def test_split_gives_a_comparison_its_second_document(self) -> None:
        plan = RetrievalPlan(top_k=4, min_documents=2, per_document_cap=2)
        q = Query("Compare the refund policy and the exchange policy", "c")
        first = passing(scored("r1", 0.8, "refund"), scored("r2", 0.7, "refund"))
        parts = split_question(q.text)
        assert len(parts) == 2

        def answer(qq: Query, _: RetrievalPlan) -> PassResult:
            if qq.text == parts[1]:
                return passing(scored("e1", 0.6, "exchange"), scored("e2", 0.5, "exchange"))
            return first

        result, path = RecallRecovery().run(q, plan, first, ScriptedSearch(answer))
        assert path[-1] == "split" and result.documents == 2
        assert [c.chunk.id for c in result.kept] == ["r1", "e1", "r2", "e2"]

    def test_soft_filters_relaxed_only_when_given_and_hard_filters_stay(self) -> None:
        hard, soft = Filter(must=[eq("file_type", "pdf")]), Filter(must=[eq("meta.year", 2024)])
        good = passing(scored("x", 0.9))
        search = ScriptedSearch(lambda qq, _: WEAK if qq.soft_filters is not None else good)
        plain = Query("refund", "c", filters=hard)
        _, path = RecallRecovery().run(plain, PLAN, WEAK, search)
        assert "relax_soft_filters" not in path  # nothing soft to relax: the weak results stand
        search.calls.clear()
        result, path = RecallRecovery().run(Query("refund", "c", filters=hard, soft_filters=soft), PLAN, WEAK, search)
        assert result is good and path == ("first_pass", "keywords", "relax_soft_filters")
        assert all(qq.filters == hard for qq, _ in search.calls)
        assert [qq.soft_filters for qq, _ in search.calls] == [soft, None]

    def test_nothing_sufficient_returns_the_best_and_the_full_path(self) -> None:
        q = Query("What is the refund window and who approves exceptions?", "c", soft_filters=Filter(must=[]))
        scores = {"refund window approves exceptions": 0.35}
        search = ScriptedSearch(lambda qq, _: passing(scored(qq.text[:8], scores.get(qq.text, 0.3))))
        result, path = RecallRecovery().run(q, PLAN, WEAK, search)
        assert path == ("first_pass", "keywords", "split", "best:keywords")  # an empty soft filter is no filter
        assert result.top_dense == 0.35

    def test_first_pass_stays_best_when_nothing_beats_it(self) -> None:
        first = passing(scored("f", 0.39))
        result, path = RecallRecovery().run(Query("refund window", "c"), PLAN, first, ScriptedSearch(lambda *_: WEAK))
        assert result is first and path == ("first_pass", "keywords", "best:first_pass")

    def test_no_applicable_step(self) -> None:
        search = ScriptedSearch(lambda *_: WEAK)
        result, path = RecallRecovery().run(Query("the of and?", "c"), PLAN, EMPTY, search)
        assert result is EMPTY and path == ("first_pass",) and not search.calls


class TestExpansion:
    def test_skipped_and_not_listed_without_an_expander(self) -> None:
        _, path = RecallRecovery().run(Query("refund window", "c"), PLAN, WEAK, ScriptedSearch(lambda *_: WEAK))
        assert "llm_expansion" not in " ".join(path)

    def test_expander_runs_last_over_the_relaxed_scope(self) -> None:
        q = Query("refund window", "c", soft_filters=Filter(must=[eq("file_type", "pdf")]))
        good = passing(scored("h", 0.8))
        search = ScriptedSearch(lambda qq, _: good if qq.text.startswith("Refunds are") else WEAK)
        recovery = RecallRecovery(expander=lambda text: ["Refunds are accepted within 30 days.", text])
        result, path = recovery.run(q, PLAN, WEAK, search)
        assert path == ("first_pass", "keywords", "relax_soft_filters", "llm_expansion")
        assert [c.chunk.id for c in result.kept] == ["h"] and "expansion 1" in result.decisions[0].reason
        assert search.calls[-1][0].soft_filters is None
        assert search.texts[-1] == "Refunds are accepted within 30 days."  # the original text is not repeated

    def test_a_failing_expander_is_skipped(self) -> None:
        def broken(text: str) -> list[str]:
            raise RuntimeError("LLM down")

        _, path = RecallRecovery(expander=broken).run(
            Query("refund window", "c"), PLAN, WEAK, ScriptedSearch(lambda *_: WEAK)
        )
        assert "llm_expansion" not in path


class TestMerge:
    def test_neighbours_travel_with_their_hit_and_do_not_count_against_top_k(self) -> None:
        before, hit, after = scored("n0", None, "m", 4), scored("h", 0.7, "m", 5), scored("n1", None, "m", 6)
        part1 = PassResult(
            (before, hit, after),
            (
                Decision("h", True, "kept", "passed"),
                Decision("n0", True, "neighbour", "before"),
                Decision("n1", True, "neighbour", "after"),
            ),
        )
        part2 = passing(scored("o", 0.6, "other"), scored("p", 0.5, "other"))
        merged = merge_parts(["a", "b"], [part1, part2], RetrievalPlan(top_k=2), "part")
        assert [c.chunk.id for c in merged.kept] == ["n0", "h", "n1", "o"]
        stages = {d.chunk_id: d.stage for d in merged.decisions}
        assert stages["n0"] == "neighbour" and stages["h"] == "kept" and stages["p"] == "top_k"

    def test_per_document_cap_and_token_budget_hold(self) -> None:
        p1 = passing(scored("a", 0.7, "d"), scored("b", 0.6, "d"))
        p2 = passing(scored("c", 0.65, "d"), scored("e", 0.5, "e"))
        merged = merge_parts(["x", "y"], [p1, p2], RetrievalPlan(top_k=5, per_document_cap=2), "part")
        assert [c.chunk.id for c in merged.kept] == ["a", "c", "e"]
        long = ScoredChunk(chunk("L", "f", text="word " * 400), 0.9, 0.9)
        budgeted = merge_parts(["x", "y"], [passing(long), p2], RetrievalPlan(top_k=5, token_budget=100), "part")
        assert [c.chunk.id for c in budgeted.kept] == ["L"]  # the first is kept even over budget, then nothing fits


class TestRewrite:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('How many days of "paid annual leave" does an employee get in 2024?', "paid annual leave many days"),
            ("What does the IT policy say about USB drives?", "IT policy say USB drives"),
            ("Can you tell me about the ISO-27001 audit v2.3?", "ISO-27001 audit v2.3"),
            ("越南投资发展银行的英文名是什么？", "越南 投资 发展 银行 英文名"),
            ("《鳄鱼泪》主要内容是什么？", "鳄鱼泪 内容"),
        ],
    )
    def test_keywords(self, text: str, expected: str) -> None:
        assert keywords(text).startswith(expected)

    def test_keywords_of_only_stopwords_is_empty(self) -> None:
        assert keywords("what is the?") == ""

    @pytest.mark.parametrize(
        ("text", "parts"),
        [
            ("What is the refund window and who approves exceptions?", ["What is the refund window", "who approves"]),
            ("What is SSO? How does MFA work?", ["What is SSO?", "How does MFA work?"]),
            ("Explain the leave policy; also the travel rules", ["Explain the leave policy", "the travel rules"]),
            ("For the travel policy: 1) the per diem 2) hotel approval", ["For the travel policy the per diem"]),
            ("年假有多少天以及怎么申请？", ["年假有多少天", "怎么申请"]),
        ],
    )
    def test_split(self, text: str, parts: list[str]) -> None:
        got = split_question(text)
        assert len(got) >= 2 and all(g.startswith(p) for g, p in zip(got, parts, strict=False))

    @pytest.mark.parametrize("text", ["What is the refund window?", "A and the", "盐和胡椒"])
    def test_single_part_is_not_split(self, text: str) -> None:
        assert split_question(text) == [text]


class TestSoftFiltersInThePreFilter:
    def test_soft_and_hard_are_both_applied(self) -> None:
        hard, soft = Filter(must=[eq("file_type", "pdf")]), Filter(must=[eq("meta.year", 2024)])
        flt = build_filter(Query("x", "c", filters=hard, soft_filters=soft))
        assert {"file_type", "meta.year", "tenant", "collection"} <= flt.keys()
        assert "meta.year" not in build_filter(Query("x", "c", filters=hard)).keys()
        assert "file_type" in build_filter(Query("x", "c", soft_filters=Filter(must=[eq("file_type", "md")]))).keys()

    def test_soft_filters_may_not_use_system_fields(self) -> None:
        with pytest.raises(InvalidInputError) as e:
            build_filter(Query("x", "c", soft_filters=Filter(must=[eq("tenant", "other")])))
        assert e.value.field == "soft_filters"


# -- the whole retrieval path through the API (embedded store, hash embedder) ------------------------------------------
DOCS = [
    (
        "leave.txt",
        b"Annual leave. Every employee receives 25 days of paid annual leave per calendar year.\n\n"
        b"Sick leave. Employees report sick leave to their manager before 10 am on the first day.",
    ),
    ("travel.md", b"# Travel\n\nTravel expenses above 500 euros need approval by the finance director."),
]


def _wait(client, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "partial"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def kb(client) -> str:
    assert client.post("/v1/collections", json={"name": "kb"}).status_code == 201
    files = [("files", (name, io.BytesIO(data))) for name, data in DOCS]
    r = client.post("/v1/collections/kb/documents", files=files)
    assert r.status_code == 202, r.text
    assert _wait(client, r.json()["job_id"])["status"] == "succeeded"
    return "kb"


class TestThroughTheApi:
    def test_retrieve_reports_intent_plan_path_and_decisions(self, client, kb) -> None:
        body = {"query": "How many days of paid annual leave?", "collection": kb, "explain": True}
        out = client.post("/v1/retrieve", json=body).json()
        assert out["intent"]["intent"] == "factual" and out["intent"]["reason"]
        assert out["plan"]["retrieve"] is True and out["plan"]["top_k"] == 5
        assert out["recovery_path"][0] == "first_pass" and out["chunks"]
        assert out["decisions"] and {"chunk_id", "kept", "stage", "reason"} <= set(out["decisions"][0])
        assert "decisions" not in client.post("/v1/retrieve", json={**body, "explain": False}).json()

    def test_comparison_plan_is_reported(self, client, kb) -> None:
        body = {"query": "What is the difference between annual leave and sick leave?", "collection": kb}
        out = client.post("/v1/retrieve", json=body).json()
        assert out["intent"]["intent"] == "comparison" and out["plan"]["min_documents"] == 2

    def test_chitchat_retrieves_nothing_and_answer_refuses(self, client, kb) -> None:
        out = client.post("/v1/retrieve", json={"query": "hi there, how are you?", "collection": kb}).json()
        assert out["intent"]["intent"] == "chitchat" and out["chunks"] == []
        assert out["recovery_path"] == ["skipped"] and out["plan"]["retrieve"] is False
        ans = client.post("/v1/answer", json={"question": "hi there, how are you?", "collection": kb}).json()
        assert ans["refused"] is True and "chitchat" in ans["reason"] and ans["citations"] == []

    def test_soft_filter_is_relaxed_hard_filter_is_not(self, client, kb) -> None:
        nothing = {"must": [{"key": "file_type", "match": {"value": "pdf"}}]}
        q = {"query": "Who approves travel expenses above 500 euros?", "collection": kb}
        out = client.post("/v1/retrieve", json={**q, "soft_filters": nothing}).json()
        assert "relax_soft_filters" in out["recovery_path"] and out["chunks"]
        out = client.post("/v1/retrieve", json={**q, "filters": nothing}).json()
        assert out["chunks"] == [] and "relax_soft_filters" not in out["recovery_path"]
