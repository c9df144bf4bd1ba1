"""The answer service with an LLM generator: what the model writes is verified, repaired or refused.

A scripted model (tests/llm's `ScriptedModel`, a `LanguageModel` whose replies are queued) makes the model's mistakes
deterministic; the verifier is the real committed fast verifier, retrieval the real embedded store. The last test
runs the real SmolLM2 through llama.cpp end to end.
"""

from __future__ import annotations

import io

import pytest

from app.answer.llm_generator import LLMGenerator
from app.core.grounding import ABSTAIN
from app.knowledge import Upload
from tests.conftest import make_services, make_settings
from tests.llm import ScriptedModel

POLICY = (
    b"Annual leave. Full-time employees receive 25 days of paid annual leave per calendar year. "
    b"Up to 5 unused days may be carried over into the following year.\n\n"
    b"Travel. Economy class is required for flights shorter than six hours. "
    b"Hotel costs are reimbursed up to 150 euros per night."
)
QUESTION = "How many days of paid annual leave do full-time employees receive per year?"


@pytest.fixture(scope="module")
def svc(tmp_path_factory, minilm):
    s = make_services(make_settings(tmp_path_factory.mktemp("llm-answers"), models={"embedder": "minilm"}), minilm)
    s.kb.create_collection("default", "hr")
    job = s.kb.upload("default", "hr", [Upload("policy.txt", io.BytesIO(POLICY))])
    s.runner.wait_idle(60)
    assert s.kb.get_job("default", job.job_id)["status"] == "succeeded"
    yield s
    s.close()


def ask(svc, model: ScriptedModel):
    svc.answers.generator = LLMGenerator(model)
    return svc.kb.answer("default", "hr", QUESTION)


def test_supported_answer_passes_with_its_citation(svc) -> None:
    a = ask(svc, ScriptedModel("Full-time employees receive 25 days of paid annual leave per calendar year [1]."))
    assert not a.refused and a.answer.startswith("Full-time employees receive 25 days") and a.support == 1.0
    assert a.citations and a.label["ai_generated"] and a.provenance["generator"].startswith("scripted")


def test_invented_number_is_removed_and_the_rest_kept(svc) -> None:
    text = (
        "Full-time employees receive 25 days of paid annual leave per calendar year [1]. "
        "Part-time employees receive 40 days of paid annual leave [1]."
    )
    a = ask(svc, ScriptedModel(text))
    assert not a.refused and a.repaired and "40" not in a.answer and "25 days" in a.answer
    removed = [v for v in a.verdicts if not v.kept]
    assert len(removed) == 1 and not removed[0].supported and "40" in removed[0].reason
    assert a.support == 0.5


def test_mostly_invented_answer_becomes_a_refusal(svc) -> None:
    text = (
        "Employees receive 40 days of leave [1]. Managers approve leave within 3 days [1]. "
        "Leave requests go through the Workday portal [1]."
    )
    a = ask(svc, ScriptedModel(text))
    assert a.refused and "supported" in a.reason and a.verdicts and not any(v.supported for v in a.verdicts)


def test_abstaining_model_is_a_refusal_and_nothing_is_streamed(svc) -> None:
    svc.answers.generator = LLMGenerator(ScriptedModel(ABSTAIN))
    events = list(svc.kb.answer_stream("default", "hr", QUESTION))
    assert [e.kind for e in events] == ["final"] and events[0].answer.refused
    assert "abstained" in events[0].answer.reason


def test_stream_emits_only_verified_sentences(svc) -> None:
    text = (
        "Full-time employees receive 25 days of paid annual leave per calendar year [1]. "
        "Part-time employees receive 40 days of paid annual leave [1]. "
        "Up to 5 unused days may be carried over into the following year [1]."
    )
    svc.answers.generator = LLMGenerator(ScriptedModel(text, chunk=7))
    events = list(svc.kb.answer_stream("default", "hr", QUESTION))
    sentences = [e.data["text"] for e in events if e.kind == "sentence"]
    assert len(sentences) == 2 and not any("40" in s for s in sentences)
    final = events[-1].answer
    assert final.answer == " ".join(sentences) and not final.refused


@pytest.mark.llm
@pytest.mark.slow
def test_real_small_model_end_to_end(svc) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make install-llm-min)")
    from tests.llm import smollm2

    svc.answers.generator = LLMGenerator(smollm2(), max_tokens=96)
    a = svc.kb.answer("default", "hr", QUESTION)
    # SmolLM2-135M answers poorly; whatever it writes, nothing unsupported may survive verification.
    assert a.refused or all(v.supported for v in a.verdicts if v.kept)
    assert a.provenance["signature"] and a.timings_ms["generate"] > 0
