"""OpenAICompatModel against a real OpenAI-compatible server: llama-cpp-python's own (`python -m llama_cpp.server`)
serving SmolLM2-135M on a free loopback port. The same generator and judge run over it as over the in-process model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed: run `make install-llm-min` (compiles it, 5-8 min)"
)

from app.answer.llm_generator import LLMGenerator  # noqa: E402
from app.core.errors import ModelError  # noqa: E402
from app.core.grounding import ChatMessage  # noqa: E402
from app.core.ports import LanguageModel  # noqa: E402
from app.llm.openai_compat import JSON_MODES, OpenAICompatModel  # noqa: E402
from app.verify.llm_judge import LLMJudgeVerifier  # noqa: E402
from tests.llm import passage, smollm2_path  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.llm]

HI = [ChatMessage("system", "You are a helpful assistant."), ChatMessage("user", "What is the capital of France?")]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "verdict": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["city", "verdict"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server, started once for this module."""
    port = _free_port()
    log_path: Path = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", smollm2_path(), "--host", "127.0.0.1"]
    cmd += [
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "1",
        "--n_threads_batch",
        "1",
        "--model_alias",
        "smollm2",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready after 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def model(base_url: str) -> OpenAICompatModel:
    m = OpenAICompatModel(base_url, model="", api_key="", timeout_s=60, max_retries=0)
    m.warm_up()
    return m


class TestConstruction:
    def test_valid(self) -> None:
        m = OpenAICompatModel("http://127.0.0.1:1/v1", model="gpt-x", timeout_s=3)
        assert isinstance(m, LanguageModel) and m.name == "openai:gpt-x" and m._client is None

    @pytest.mark.parametrize(
        "kwargs,match",
        [({"base_url": "127.0.0.1:8080"}, "http://"), ({"timeout_s": 0}, "timeout_s"), ({"max_retries": -1}, "max")],
    )
    def test_invalid(self, kwargs: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            OpenAICompatModel(**{"base_url": "http://h/v1", **kwargs})

    def test_unreachable_endpoint_is_a_model_error(self) -> None:
        m = OpenAICompatModel(f"http://127.0.0.1:{_free_port()}/v1", model="m", timeout_s=5, max_retries=0)
        with pytest.raises(ModelError, match="cannot reach"):
            m.chat(HI, max_tokens=4)


class TestAgainstLlamaCppServer:
    def test_warm_up_takes_the_servers_model(self, model: OpenAICompatModel) -> None:
        assert model.name == "openai:smollm2"

    def test_chat(self, model: OpenAICompatModel) -> None:
        assert model.chat(HI, max_tokens=24).strip()

    def test_stream(self, model: OpenAICompatModel) -> None:
        deltas = list(model.stream_chat(HI, max_tokens=24))
        assert len(deltas) > 1 and "".join(deltas).strip()

    def test_json_schema_falls_back_to_what_the_server_accepts(self, base_url: str) -> None:
        m = OpenAICompatModel(base_url, model="smollm2", timeout_s=60, max_retries=0)
        assert m.json_mode == "json_schema"
        msgs = [ChatMessage("user", "Is Paris in France? Answer as JSON with city and verdict.")]
        data = json.loads(m.chat(msgs, max_tokens=48, json_schema=SCHEMA))
        assert set(data) == {"city", "verdict"} and data["verdict"] in ("yes", "no")
        # llama.cpp's server refuses type "json_schema" (422) and enforces a `schema` inside "json_object".
        assert m.json_mode == "json_object_schema" and JSON_MODES.index(m.json_mode) == 1
        assert json.loads(m.chat(msgs, max_tokens=48, json_schema=SCHEMA))["verdict"] in ("yes", "no")

    def test_generator_and_judge_run_over_the_endpoint(self, model: OpenAICompatModel) -> None:
        ps = [passage(1, "The Eiffel Tower is 330 metres tall."), passage(2, "The Louvre is a museum.")]
        out = LLMGenerator(model, max_tokens=32).generate("How tall is the Eiffel Tower?", ps)
        assert out.model == "openai:smollm2" and (out.abstained or out.text.strip())
        [s] = LLMJudgeVerifier(model, max_facts=2, max_tokens=64).support(
            "How tall is the Eiffel Tower?", [("It is 330 metres tall.", ps[0].text)]
        )
        assert 0.0 <= s.score <= 1.0 and s.reason


def test_ragas_judge_over_the_endpoint(model: OpenAICompatModel) -> None:
    """`--judge openai`: Ragas faithfulness through the OpenAI-compatible endpoint, schema-constrained by the server;
    plumbing only (SmolLM2 is no judge): a score in [0, 1] or a counted failure, never a silent 0."""
    from app.adapters.embedders import HashEmbedder
    from eval.ragas_judge import build_judge
    from eval.results import FAITHFULNESS, CaseRow

    judge = build_judge("openai", model, HashEmbedder(dim=64), None, timeout_s=60, max_tokens=160)
    assert judge is not None and judge.name == "openai"
    row = CaseRow(
        "1",
        "How tall is the Eiffel Tower?",
        (),
        True,
        answer="It is 330 metres tall. [1]",
        contexts=["The Eiffel Tower is 330 metres tall."],
    )
    judge.score([row], [FAITHFULNESS])
    s = row.scores[FAITHFULNESS]
    assert (s.value is not None and 0.0 <= s.value <= 1.0) or (s.value is None and s.error)
    assert judge.stats["calls"] >= 1
