"""LLMJudgeVerifier: scoring and failure handling on a scripted model, then the real SmolLM2 through llama.cpp."""

from __future__ import annotations

import json
import math

import pytest

from app.core.errors import ModelError
from app.core.grounding import Support
from app.core.ports import Verifier
from app.llm import ModelTimeoutError
from app.verify.llm_judge import EXAMPLES, VERDICTS, JudgeOutputError, LLMJudgeVerifier, parse_verdict
from tests.llm import ScriptedModel, smollm2

EVIDENCE = "Ann Smith was born in Paris in 1950. She worked as a chemist."


def verdict(*pairs: tuple[str, str]) -> str:
    return json.dumps({"facts": [{"fact": f, "verdict": v} for f, v in pairs]})


class TestConstruction:
    def test_valid(self) -> None:
        judge = LLMJudgeVerifier(ScriptedModel())
        assert isinstance(judge, Verifier)
        assert judge.name == "llm-judge:scripted" and judge.threshold == 1.0
        enum = judge.schema["properties"]["facts"]["items"]["properties"]["verdict"]["enum"]
        assert tuple(enum) == VERDICTS

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"threshold": 0}, "threshold"),
            ({"threshold": 1.5}, "threshold"),
            ({"max_facts": 0}, "max_facts"),
            ({"max_tokens": 8}, "max_tokens"),
            ({"budget_s": 0}, "budget_s"),
        ],
    )
    def test_invalid(self, kwargs: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            LLMJudgeVerifier(ScriptedModel(), **kwargs)


class TestScoring:
    def test_all_supported(self) -> None:
        model = ScriptedModel(verdict(("Ann was born in Paris", "supported")))
        [s] = LLMJudgeVerifier(model).support("Where was Ann born?", [("Paris [1].", EVIDENCE)])
        assert s == Support(score=1.0, supported=True, reason="1/1 facts supported")
        call = model.calls[0]
        assert call["schema"] is not None and call["temperature"] == 0.0
        last = call["messages"][-1]
        assert last.role == "user" and "Where was Ann born?" in last.content and EVIDENCE in last.content
        assert [m.role for m in call["messages"]] == ["system"] + ["user", "assistant"] * len(EXAMPLES) + ["user"]
        for example in call["messages"][2:-1:2]:  # the worked examples are valid verdicts themselves
            assert parse_verdict(example.content)

    def test_without_examples(self) -> None:
        model = ScriptedModel(verdict(("x", "supported")))
        LLMJudgeVerifier(model, examples=False).support("q", [("c", EVIDENCE)])
        assert [m.role for m in model.calls[0]["messages"]] == ["system", "user"]

    def test_partly_supported_needs_the_threshold(self) -> None:
        reply = verdict(("born in Paris", "supported"), ("in 1950", "supported"), ("a physicist", "unsupported"))
        [strict] = LLMJudgeVerifier(ScriptedModel(reply)).support("q", [("c", EVIDENCE)])
        assert strict.score == pytest.approx(2 / 3) and not strict.supported
        assert "unsupported: a physicist" in strict.reason
        [lenient] = LLMJudgeVerifier(ScriptedModel(reply), threshold=0.5).support("q", [("c", EVIDENCE)])
        assert lenient.supported

    def test_one_contradicted_fact_zeroes_the_claim(self) -> None:
        reply = verdict(("born in Paris", "supported"), ("born in 1960", "contradicted"))
        [s] = LLMJudgeVerifier(ScriptedModel(reply), threshold=0.5).support("q", [("c", EVIDENCE)])
        assert s.score == 0.0 and not s.supported and "contradicted: born in 1960" in s.reason

    def test_one_support_per_pair_in_order(self) -> None:
        model = ScriptedModel(verdict(("a", "supported")), verdict(("b", "unsupported")))
        out = LLMJudgeVerifier(model).support("q", [("a", EVIDENCE), ("b", EVIDENCE), ("c", "  ")])
        assert [s.supported for s in out] == [True, False, False]
        assert out[2].reason == "no evidence" and len(model.calls) == 2  # no call without evidence

    def test_parse_tolerates_text_around_the_json(self) -> None:
        facts = parse_verdict('Sure! {"facts": [{"fact": "x", "verdict": " Supported "}]} Done.')
        assert facts[0].verdict == "supported"
        for bad in ["", "{}", '{"facts": []}', '{"facts": [{"fact": "x", "verdict": "maybe"}]}', "{nope}"]:
            with pytest.raises(JudgeOutputError):
                parse_verdict(bad)


class TestFailures:
    def test_malformed_output_is_retried_once_then_fails_softly(self) -> None:
        model = ScriptedModel('{"facts": [{"fact": "Ann', "not json at all")
        [s] = LLMJudgeVerifier(model, retry_temperature=0.3).support("q", [("c", EVIDENCE)])
        assert s.score == 0.0 and not s.supported and s.reason.startswith("judge_failed: unparseable output")
        assert not math.isnan(s.score)
        assert [c["temperature"] for c in model.calls] == [0.0, 0.3]

    def test_a_good_retry_wins(self) -> None:
        model = ScriptedModel("garbage", verdict(("x", "supported")))
        [s] = LLMJudgeVerifier(model).support("q", [("c", EVIDENCE)])
        assert s.supported and len(model.calls) == 2

    def test_model_faults_never_raise(self) -> None:
        model = ScriptedModel(ModelError("boom"), RuntimeError("segfault-ish"))
        [s] = LLMJudgeVerifier(model).support("q", [("c", EVIDENCE)])
        assert s.reason.startswith("judge_failed: RuntimeError") and not s.supported

    def test_a_timeout_is_not_retried(self) -> None:
        model = ScriptedModel(ModelTimeoutError("scripted", 1.0), verdict(("x", "supported")))
        [s] = LLMJudgeVerifier(model).support("q", [("c", EVIDENCE)])
        assert "ModelTimeoutError" in s.reason and len(model.calls) == 1

    def test_budget_bounds_the_batch(self) -> None:
        model = ScriptedModel(verdict(("x", "supported")))
        judge = LLMJudgeVerifier(model, budget_s=1e-9)
        out = judge.support("q", [("a", EVIDENCE), ("b", EVIDENCE)])
        assert [s.reason for s in out] == ["judge_failed: budget of 1e-09 s spent"] * 2 and model.calls == []


@pytest.mark.slow
@pytest.mark.llm
class TestOnSmolLM2:
    @pytest.fixture(scope="class")
    def judge(self) -> LLMJudgeVerifier:
        pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: run `make install-llm-min`")
        return LLMJudgeVerifier(smollm2(), max_facts=2, max_tokens=64)

    def test_returns_a_support_per_pair(self, judge: LLMJudgeVerifier) -> None:
        pairs = [
            ("Ann was born in Paris [1].", EVIDENCE),
            ("Ann was born in Rome in 1970 [1].", EVIDENCE),
            ("She won a Nobel prize [1].", EVIDENCE),
        ]
        out = judge.support("Where was Ann born?", pairs)
        assert len(out) == 3
        for s in out:
            assert isinstance(s, Support) and 0.0 <= s.score <= 1.0 and s.reason
            assert s.supported == (s.score >= judge.threshold)

    def test_truncated_json_falls_back(self) -> None:
        pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: run `make install-llm-min`")
        # 32 tokens cannot hold the facts JSON of a long claim: the grammar-constrained output is cut mid-object.
        judge = LLMJudgeVerifier(smollm2(), max_tokens=32)
        claim = "Ann Smith, a chemist born in Paris in 1950, later moved to Lyon, married Paul, and wrote four books."
        [s] = judge.support("Who is Ann Smith?", [(claim, EVIDENCE)])
        assert isinstance(s, Support) and 0.0 <= s.score <= 1.0
        if s.reason.startswith("judge_failed"):
            assert s.score == 0.0 and not s.supported and "unparseable" in s.reason
