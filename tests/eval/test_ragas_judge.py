"""RagasJudge and RagasLLM: Ragas' LLM metrics on a scripted judge, failures counted; then SmolLM2 through llama.cpp."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest

from app.adapters.embedders import HashEmbedder
from app.core.errors import ModelError
from app.core.grounding import ChatMessage
from app.llm import ModelTimeoutError
from eval.ragas_judge import RagasJudge, build_judge
from eval.results import ANSWER_RELEVANCY, CONTEXT_PRECISION, CONTEXT_RECALL, FAITHFULNESS, LLM_METRICS, CaseRow, Score
from tests.llm import ScriptedModel, smollm2

CONTEXT = "Ann Smith was born in Paris in 1950. She worked as a chemist."
QUESTION = "Where was Ann Smith born?"


def row(answer: str = "Ann Smith was born in Paris [1].", **kw: Any) -> CaseRow:
    row_id = kw.pop("id", "r1")
    fields: dict[str, Any] = {"answer": answer, "contexts": [CONTEXT], "context_document_ids": ["d1"], **kw}
    return CaseRow(row_id, QUESTION, (), True, **fields)


def statements(*texts: str) -> str:
    return json.dumps({"statements": list(texts)})


def verdicts(*pairs: tuple[str, int]) -> str:
    return json.dumps({"statements": [{"statement": s, "reason": "because", "verdict": v} for s, v in pairs]})


def judge(model: Any, **kw: Any) -> RagasJudge:
    return RagasJudge(model, HashEmbedder(), **kw)


class SlowModel(ScriptedModel):
    """A scripted model that takes `delay` seconds per call."""

    def __init__(self, *replies: str, delay: float) -> None:
        super().__init__(*replies)
        self.delay = delay

    def chat(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> str:
        time.sleep(self.delay)
        return super().chat(messages, max_tokens, temperature, json_schema)


class TestConstruction:
    def test_build_judge_kinds(self, tmp_path) -> None:
        assert build_judge("none", None, HashEmbedder(), None) is None
        j = build_judge("local", ScriptedModel(), HashEmbedder(), tmp_path / "cache.sqlite")
        assert isinstance(j, RagasJudge) and j.name == "local"
        zero = {"calls": 0, "cache_hits": 0, "retries": 0, "failures": 0, "timeouts": 0, "seconds": 0.0, "samples": 0}
        assert j.stats == zero

    def test_unknown_kind_lists_valid(self) -> None:
        with pytest.raises(ValueError, match="valid: local, openai, none"):
            build_judge("gpt", ScriptedModel(), HashEmbedder(), None)

    @pytest.mark.parametrize("kind", ["local", "openai"])
    def test_kind_without_model(self, kind: str) -> None:
        with pytest.raises(ValueError, match="needs a chat model"):
            build_judge(kind, None, HashEmbedder(), None)

    def test_invalid(self) -> None:
        with pytest.raises(ValueError, match="timeout_s"):
            judge(ScriptedModel(), timeout_s=0)
        with pytest.raises(ValueError, match="valid: faithfulness"):
            judge(ScriptedModel()).score([row()], ["bleu"])


class TestFaithfulness:
    def test_supported_scores_one(self) -> None:
        model = ScriptedModel(statements("Ann Smith was born in Paris."), verdicts(("Ann Smith was born in Paris.", 1)))
        r = row()
        judge(model).score([r], [FAITHFULNESS])
        assert r.scores == {FAITHFULNESS: Score(1.0)}
        first, second = model.calls
        assert first["temperature"] == 0.0 and first["schema"]["title"] == "StatementGeneratorOutput"
        assert second["schema"]["title"] == "NLIStatementOutput" and CONTEXT in second["messages"][-1].content
        assert "[1]" not in first["messages"][-1].content  # our citation markers are stripped before judging

    def test_unsupported_scores_zero(self) -> None:
        model = ScriptedModel(
            statements("Ann Smith was born in Rome.", "She was a pilot."),
            verdicts(("Ann Smith was born in Rome.", 0), ("She was a pilot.", 0)),
        )
        r = row("Ann Smith was born in Rome. She was a pilot.")
        judge(model).score([r], [FAITHFULNESS])
        assert r.scores[FAITHFULNESS] == Score(0.0)

    def test_no_statements_is_nan_not_zero(self) -> None:
        r = row()
        judge(ScriptedModel(statements())).score([r], [FAITHFULNESS])
        assert r.scores[FAITHFULNESS] == Score(None, "nan")

    def test_not_applicable_rows_get_no_key(self) -> None:
        refused = row("NOT_IN_DOCUMENTS", refused=True, id="refused")
        no_context = row(contexts=[], id="no-context")
        empty = row("", id="empty")
        model = ScriptedModel()
        j = judge(model)
        j.score([refused, no_context, empty], list(LLM_METRICS))
        assert refused.scores == no_context.scores == empty.scores == {} and model.calls == []
        assert j.stats["samples"] == 0


class TestCache:
    def test_second_run_makes_no_model_call(self, tmp_path) -> None:
        from eval.ragas_llm import JudgeCache

        model = ScriptedModel(statements("Ann Smith was born in Paris."), verdicts(("Ann Smith was born in Paris.", 1)))
        first = row()
        judge(model, cache=JudgeCache(tmp_path / "c.sqlite")).score([first], [FAITHFULNESS])
        assert len(model.calls) == 2
        again = row()
        j = judge(model, cache=JudgeCache(tmp_path / "c.sqlite"))  # a new process would open the same file
        j.score([again], [FAITHFULNESS])
        assert len(model.calls) == 2 and again.scores == first.scores == {FAITHFULNESS: Score(1.0)}
        assert j.stats["cache_hits"] == 2 and j.stats["calls"] == 0

    def test_key_depends_on_model_schema_messages_temperature(self) -> None:
        from eval.ragas_llm import cache_key

        msgs = [ChatMessage("user", "hi")]
        base = cache_key("m", {"type": "object"}, msgs, 0.0)
        assert base == cache_key("m", {"type": "object"}, list(msgs), 0.0)
        others = [
            cache_key("n", {"type": "object"}, msgs, 0.0),
            cache_key("m", {}, msgs, 0.0),
            cache_key("m", {"type": "object"}, [ChatMessage("user", "ho")], 0.0),
            cache_key("m", {"type": "object"}, msgs, 0.5),
        ]
        assert len({base, *others}) == 5


class TestFailures:
    def test_unparseable_retried_once_then_counted(self) -> None:
        model = ScriptedModel("not json", '{"statements": ')
        r = row()
        j = judge(model)
        j.score([r], [FAITHFULNESS])
        s = r.scores[FAITHFULNESS]
        assert s.value is None and s.error is not None and s.error.startswith("judge_failed: invalid_output")
        assert len(model.calls) == 2 and model.calls[1]["max_tokens"] == 2 * model.calls[0]["max_tokens"]
        assert "rejected" in model.calls[1]["messages"][-1].content  # the retry says what was wrong
        expected = {"calls": 2, "cache_hits": 0, "retries": 1, "failures": 1, "timeouts": 0, "samples": 1}
        assert {k: v for k, v in j.stats.items() if k != "seconds"} == expected

    def test_retry_that_succeeds_is_cached(self) -> None:
        model = ScriptedModel("{", statements("Ann Smith was born in Paris."))
        model.enqueue(verdicts(("Ann Smith was born in Paris.", 1)))
        r = row()
        j = judge(model)
        j.score([r], [FAITHFULNESS])
        assert r.scores[FAITHFULNESS] == Score(1.0) and j.stats["failures"] == 0 and j.stats["retries"] == 1
        j.score([row()], [FAITHFULNESS])
        assert len(model.calls) == 3 and j.stats["cache_hits"] == 2

    def test_slow_judge_times_out(self) -> None:
        model = SlowModel(statements("x"), delay=6.0)
        r = row()
        j = judge(model, timeout_s=0.2)
        j.warm_up()  # Ragas' import (seconds on a busy machine) is not what this test times
        started = time.perf_counter()
        j.score([r], [FAITHFULNESS])
        assert r.scores[FAITHFULNESS] == Score(None, "timeout")
        assert j.stats["timeouts"] == 1 and j.stats["failures"] == 1
        assert time.perf_counter() - started < 5.0  # score() does not wait for the abandoned 6 s call

    def test_model_error_retried_once_then_counted(self) -> None:
        model = ScriptedModel(ModelError("llama.cpp: decode failed"), ModelError("llama.cpp: decode failed"))
        r = row()
        j = judge(model)
        j.score([r], [FAITHFULNESS])
        s = r.scores[FAITHFULNESS]
        assert s.value is None and (s.error or "").startswith("judge_failed: model_error")
        assert len(model.calls) == 2 and j.stats["failures"] == 1

    def test_model_timeout_error_is_a_timeout(self) -> None:
        model = ScriptedModel(ModelTimeoutError("scripted", 5.0))
        r = row()
        judge(model).score([r], [FAITHFULNESS])
        assert r.scores[FAITHFULNESS] == Score(None, "timeout") and len(model.calls) == 1  # no retry of a timeout


class TestOtherMetrics:
    def test_answer_relevancy_uses_embeddings(self) -> None:
        model = ScriptedModel(json.dumps({"question": QUESTION, "noncommittal": 0}))
        model.enqueue(json.dumps({"question": "Who drew the map?", "noncommittal": 1}))
        same, evasive = row(id="a"), row("I am not sure.", id="b")
        judge(model).score([same, evasive], [ANSWER_RELEVANCY])
        assert same.scores[ANSWER_RELEVANCY].value == pytest.approx(1.0)
        assert evasive.scores[ANSWER_RELEVANCY] == Score(0.0)  # noncommittal
        assert len(model.calls) == 2  # strictness 1: one generated question per answer

    def test_reference_metrics_only_with_reference(self) -> None:
        model = ScriptedModel(json.dumps({"reason": "useful", "verdict": 1}))
        found = [
            {"statement": "Paris", "reason": "r", "attributed": 1},
            {"statement": "1951", "reason": "r", "attributed": 0},
        ]
        model.enqueue(json.dumps({"classifications": found}))
        with_ref, without = row(reference_answer="Paris, in 1951.", id="ref"), row(id="plain")
        progress: list[tuple[int, int]] = []
        j = judge(model)
        j.score([with_ref, without], [CONTEXT_PRECISION, CONTEXT_RECALL], progress=lambda d, t: progress.append((d, t)))
        assert with_ref.scores[CONTEXT_PRECISION].value == pytest.approx(1.0)
        assert with_ref.scores[CONTEXT_RECALL] == Score(0.5)
        assert without.scores == {} and progress == [(1, 2), (2, 2)] and j.stats["samples"] == 1

    def test_refused_row_still_gets_context_metrics(self) -> None:
        model = ScriptedModel(json.dumps({"reason": "useless", "verdict": 0}))
        r = row("NOT_IN_DOCUMENTS", refused=True, reference_answer="Paris")
        judge(model).score([r], [FAITHFULNESS, CONTEXT_PRECISION])
        assert set(r.scores) == {CONTEXT_PRECISION} and r.scores[CONTEXT_PRECISION] == Score(0.0)


@pytest.mark.slow
@pytest.mark.llm
def test_faithfulness_with_real_tiny_model() -> None:
    """Plumbing only: SmolLM2-135M on llama.cpp, grammar-constrained JSON, gives a float or a counted failure."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: run `make install-llm-min`")
    from app.llm import ModelNotInstalledError

    try:
        model = smollm2()
    except ModelNotInstalledError as e:
        pytest.skip(str(e))
    rows = [row(id="good"), row("Ann Smith was born in Rome in 1962.", id="bad")]
    j = RagasJudge(model, HashEmbedder(), timeout_s=25, max_tokens=160)
    j.score(rows, [FAITHFULNESS])
    for r in rows:
        s = r.scores[FAITHFULNESS]
        assert (s.value is not None and 0.0 <= s.value <= 1.0) or (s.value is None and s.error)
    judge_failed = sum((r.scores[FAITHFULNESS].error or "").startswith(("judge_failed", "timeout")) for r in rows)
    assert j.stats["samples"] == 2 and j.stats["calls"] >= 2 and j.stats["failures"] >= judge_failed
