"""Grounded answers over HTTP with the real MiniLM and the committed fast verifier and evidence gate: verdicts,
labels and signed provenance, refusals, streaming, /v1/verify, and the OpenAI-compatible chat API driven by the
official `openai` client against a live server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.api.test_api import demo_files, upload, wait_job
from tests.conftest import make_services, make_settings

ADMIN = "grounded-answers-admin-key"
QUESTION = "How many days of paid annual leave do full-time employees get?"


@pytest.fixture(scope="module")
def grounded(tmp_path_factory, minilm) -> Iterator:
    from fastapi.testclient import TestClient

    from app.api.main import create_app

    settings = make_settings(tmp_path_factory.mktemp("grounded"), models={"embedder": "minilm"}, admin_key=ADMIN)
    svc = make_services(settings, minilm)
    app = create_app(svc.settings, services=svc)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        client.post("/v1/collections", json={"name": "demo"})
        assert wait_job(client, upload(client, "demo", demo_files())["job_id"])["status"] == "succeeded"
        yield client, app
    svc.close()


@pytest.fixture
def client(grounded):
    return grounded[0]


class TestAnswer:
    def test_answer_is_verified_labelled_and_signed(self, client) -> None:
        body = client.post("/v1/answer", json={"question": QUESTION, "collection": "demo"}).json()
        assert not body["refused"], body["reason"]
        assert "25" in body["answer"] and body["citations"] and body["source"] == "documents"
        assert body["verdicts"] and all(v["supported"] for v in body["verdicts"] if v["kept"])
        assert 0 < body["support"] <= 1 and body["label"]["ai_generated"] is True
        prov = body["provenance"]
        assert prov["answer_sha256"] and prov["signature"] and prov["request_id"] == body["request_id"]
        assert {c["chunk_id"] for c in prov["chunks"]} == {c["chunk_id"] for c in body["citations"]}
        assert body["gate"]["passed"] is True and "signals" in body["gate"]
        ok = client.post("/v1/provenance/verify", json={"answer": body["answer"], "provenance": prov}).json()
        assert ok["valid"] and ok["authentic"] and ok["unmodified"]
        edited = body["answer"].replace("25", "35")
        bad = client.post("/v1/provenance/verify", json={"answer": edited, "provenance": prov}).json()
        assert bad["authentic"] and bad["unmodified"] is False and not bad["valid"]
        forged = client.post("/v1/provenance/verify", json={"provenance": {**prov, "collection": "other"}}).json()
        assert not forged["authentic"] and not forged["valid"]

    @pytest.mark.parametrize(
        "question",
        ["Who won the football world cup in 1998?", "What is the boiling point of mercury in Kelvin?"],
    )
    def test_questions_the_documents_do_not_answer_are_refused(self, client, question) -> None:
        body = client.post("/v1/answer", json={"question": question, "collection": "demo"}).json()
        assert body["refused"] and body["reason"] and body["source"] == "none" and not body["citations"]
        assert body["provenance"]["signature"] and body["label"]["ai_generated"] is False

    def test_stream_sends_verified_sentences_then_the_final_answer(self, client) -> None:
        with client.stream(
            "POST", "/v1/answer", json={"question": QUESTION, "collection": "demo", "stream": True}
        ) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            events = _sse(r.iter_lines())
        kinds = [k for k, _ in events]
        assert kinds[-1] == "final" and kinds.count("final") == 1 and "sentence" in kinds
        final = events[-1][1]
        sentences = [d["text"] for k, d in events if k == "sentence"]
        assert not final["refused"] and final["answer"] == " ".join(sentences)
        assert all(d["supported"] for k, d in events if k == "sentence")
        assert final["provenance"]["signature"] and final["label"]["ai_generated"]

    def test_stream_errors_are_4xx_before_the_stream(self, client) -> None:
        r = client.post("/v1/answer", json={"question": QUESTION, "collection": "nope", "stream": True})
        assert r.status_code == 404
        r = client.post("/v1/answer", json={"question": "   ", "collection": "demo", "stream": True})
        assert r.status_code == 422


class TestVerifyEndpoint:
    CONTEXTS = [
        "Full-time employees receive 25 days of paid annual leave per calendar year.",
        "The standard working week is 38 hours.",
    ]

    def test_supported_and_hallucinated(self, client) -> None:
        ok = client.post(
            "/v1/verify",
            json={"answer": "Full-time employees get 25 days of paid annual leave [1].", "contexts": self.CONTEXTS},
        ).json()
        assert ok["hallucinated"] is False and ok["support"] == 1.0 and ok["verifier"] == "fast"
        bad = client.post(
            "/v1/verify",
            json={"answer": "Full-time employees get 40 days of paid annual leave [1].", "contexts": self.CONTEXTS},
        ).json()
        assert bad["hallucinated"] is True and "40" in bad["verdicts"][0]["reason"]

    def test_wrong_citation_is_corrected(self, client) -> None:
        body = client.post(
            "/v1/verify", json={"answer": "The standard working week is 38 hours [1].", "contexts": self.CONTEXTS}
        ).json()
        v = body["verdicts"][0]
        assert not body["hallucinated"] and v["corrected"] and v["citations"] == [2]

    def test_bad_input(self, client) -> None:
        assert client.post("/v1/verify", json={"answer": "x", "contexts": []}).status_code == 422
        assert client.post("/v1/verify", json={"answer": "...", "contexts": ["a"]}).status_code == 422
        r = client.post("/v1/verify", json={"answer": "A b [1].", "contexts": ["a"], "verifier": "llm"})
        assert r.status_code == 422 and "language model" in r.json()["detail"]


@pytest.fixture(scope="module")
def live(grounded) -> Iterator[str]:
    """The same app served over real HTTP (uvicorn in a thread), for the official openai client."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(grounded[1], host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


class TestOpenAICompatible:
    def test_models_and_completion(self, live) -> None:
        import openai

        client = openai.OpenAI(base_url=live, api_key=ADMIN)
        assert "demo" in [m.id for m in client.models.list()]
        done = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": QUESTION}])
        text = done.choices[0].message.content
        assert "25" in text and "\n[1] " in text and done.choices[0].finish_reason == "stop"
        grounding = done.model_extra["grounding"]
        assert not grounding["refused"] and grounding["support"] > 0 and grounding["provenance"]["signature"]

    def test_streaming(self, live) -> None:
        import openai

        client = openai.OpenAI(base_url=live, api_key=ADMIN)
        stream = client.chat.completions.create(
            model="grounded/demo", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert "25" in text and "[1]" in text
        assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["grounding"]["support"] > 0

    def test_unknown_model_and_bad_messages(self, live) -> None:
        import openai

        client = openai.OpenAI(base_url=live, api_key=ADMIN)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=[{"role": "user", "content": QUESTION}])
        with pytest.raises(openai.UnprocessableEntityError):
            client.chat.completions.create(model="demo", messages=[{"role": "system", "content": "hi"}])


def _sse(lines) -> list[tuple[str, dict]]:
    events, kind = [], None
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
    return events
