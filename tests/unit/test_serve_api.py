"""The HTTP API in-process: auth, OpenAI shapes, streaming, input errors, metrics, batching.

Every test runs against both CPU engines (transformers and CTranslate2): the
API must behave the same whichever one ``stratos serve`` picked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from fastapi.testclient import TestClient
from helpers.tiny_model import make_tiny_model_dir
from pydantic import SecretStr

from stratos.serve.batcher import Batcher
from stratos.serve.engine import GenerationEngine, SamplingParams
from stratos.serve.engines import load_engine
from stratos.serve.server import ServeConfig, build_server_app

TOKEN = "test-token-9f8e7d"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module", params=["transformers", "ctranslate2"])
def engine(model_dir, request):
    return load_engine(model_dir, engine=request.param, quantization="float32", threads=1)


@pytest.fixture(scope="module")
def hf_engine(model_dir):
    return GenerationEngine.from_dir(model_dir, threads=1)


@pytest.fixture(scope="module")
def client(model_dir, engine):
    config = ServeConfig(
        model_dir=model_dir, model_name="tiny", token=SecretStr(TOKEN), max_tokens=64
    )
    with TestClient(build_server_app(config, engine=engine)) as c:
        yield c


def chat_body(**kw):
    return {
        "model": "tiny",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 6,
        "temperature": 0,
        **kw,
    }


def sse_events(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def test_health_is_open_and_says_verified(client):
    assert client.get("/health").json() == {"status": "ok", "model": "tiny", "verified": True}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
def test_v1_routes_need_the_bearer_token(client, headers):
    for r in (
        client.get("/v1/models", headers=headers),
        client.post("/v1/chat/completions", headers=headers, json=chat_body()),
    ):
        assert r.status_code == 401
        assert r.json()["error"]["type"] == "authentication_error"
        assert r.headers["www-authenticate"] == "Bearer"


def test_models_lists_the_served_name(client):
    data = client.get("/v1/models", headers=AUTH).json()
    assert data["object"] == "list" and [m["id"] for m in data["data"]] == ["tiny"]


def test_chat_completion_matches_the_engine(client, engine):
    r = client.post("/v1/chat/completions", headers=AUTH, json=chat_body())
    assert r.status_code == 200
    body = r.json()
    expected = engine.chat([[{"role": "user", "content": "hi"}]], max_new_tokens=6)[0]
    assert body["object"] == "chat.completion" and body["model"] == "tiny"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": expected.text}
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {
        "prompt_tokens": expected.prompt_tokens,
        "completion_tokens": 6,
        "total_tokens": expected.prompt_tokens + 6,
    }


def test_completion_and_echo(client, engine):
    expected = engine.generate(["abc"], max_new_tokens=5)[0].text
    r = client.post(
        "/v1/completions",
        headers=AUTH,
        json={"model": "tiny", "prompt": "abc", "max_tokens": 5, "temperature": 0, "echo": True},
    )
    assert r.status_code == 200 and r.json()["object"] == "text_completion"
    assert r.json()["choices"][0]["text"] == "abc" + expected


def test_chat_stream_is_openai_chunks_ending_with_done(client):
    plain = client.post("/v1/chat/completions", headers=AUTH, json=chat_body()).json()
    r = client.post(
        "/v1/chat/completions",
        headers=AUTH,
        json=chat_body(stream=True, stream_options={"include_usage": True}),
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len(
        {c["id"] for c in chunks}
    ) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]
    finals = [
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert finals == ["length"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6


def test_completion_stream(client, engine):
    expected = engine.generate(["abc"], max_new_tokens=5)[0].text
    r = client.post(
        "/v1/completions",
        headers=AUTH,
        json={"model": "tiny", "prompt": "abc", "max_tokens": 5, "temperature": 0, "stream": True},
    )
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    assert "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1]) == expected


BAD_BODIES = {
    "malformed json": "{not json",
    "not an object": "[1, 2]",
    "missing messages": json.dumps({"model": "tiny"}),
    "missing model": json.dumps({"messages": [{"role": "user", "content": "hi"}]}),
    "wrong type": json.dumps(chat_body(max_tokens="ten")),
    "bool for int": json.dumps(chat_body(max_tokens=True)),
    "empty messages": json.dumps(chat_body(messages=[])),
    "bad role": json.dumps(chat_body(messages=[{"role": "robot", "content": "x"}])),
    "temperature too high": json.dumps(chat_body(temperature=2.5)),
    "negative temperature": json.dumps(chat_body(temperature=-1)),
    "top_p zero": json.dumps(chat_body(top_p=0)),
    "top_p over one": json.dumps(chat_body(top_p=1.5)),
    "max_tokens zero": json.dumps(chat_body(max_tokens=0)),
    "max_tokens over limit": json.dumps(chat_body(max_tokens=65)),
    "n over one": json.dumps(chat_body(n=2)),
    "prompt over context": json.dumps(chat_body(messages=[{"role": "user", "content": "x" * 600}])),
    "huge prompt": json.dumps(chat_body(messages=[{"role": "user", "content": "x" * 100_000}])),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_input_is_a_400_in_openai_shape(client, name):
    r = client.post(
        "/v1/chat/completions",
        headers={**AUTH, "content-type": "application/json"},
        content=BAD_BODIES[name],
    )
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"]


def test_unknown_model_is_404_model_not_found(client):
    r = client.post("/v1/chat/completions", headers=AUTH, json=chat_body(model="gpt-4o"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_over_context_names_the_limit(client):
    r = client.post("/v1/completions", headers=AUTH, json={"model": "tiny", "prompt": "x" * 600})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    assert "512" in r.json()["error"]["message"]


def test_unknown_route_is_404_json(client):
    r = client.get("/v2/nothing", headers=AUTH)
    assert r.status_code == 404 and "error" in r.json()


def test_metrics_count_requests_errors_and_tokens(client):
    def value(text: str, prefix: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
        )

    before = client.get("/metrics").text
    client.post("/v1/chat/completions", headers=AUTH, json=chat_body())
    client.get("/v1/models")  # 401
    after = client.get("/metrics").text
    ok = 'stratos_requests_total{route="/v1/chat/completions",status="200"}'
    assert value(after, ok) == value(before, ok) + 1
    unauth = 'stratos_request_errors_total{route="/v1/models",status="401"}'
    assert value(after, unauth) == value(before, unauth) + 1
    assert (
        value(after, "stratos_completion_tokens_total")
        == value(before, "stratos_completion_tokens_total") + 6
    )
    assert value(after, "stratos_prompt_tokens_total") > value(
        before, "stratos_prompt_tokens_total"
    )
    assert 'stratos_request_latency_seconds_bucket{le="+Inf",route="/v1/chat/completions"}' in after


def test_token_never_logged(model_dir, engine, caplog, capfd):
    config = ServeConfig(model_dir=model_dir, model_name="tiny", token=SecretStr(TOKEN))
    assert TOKEN not in repr(config) and TOKEN not in str(config.model_dump())
    with caplog.at_level(logging.DEBUG), TestClient(build_server_app(config, engine=engine)) as c:
        c.post("/v1/chat/completions", headers=AUTH, json=chat_body(max_tokens=2))
        c.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}x"})
    out, err = capfd.readouterr()
    assert TOKEN not in caplog.text + out + err


def test_concurrent_requests_are_decoded_in_one_batch(engine):
    sizes: list[int] = []
    batcher = Batcher(engine, max_batch_size=8, max_wait_s=0.5, observe_batch=sizes.append)

    async def main():
        batcher.start()
        try:
            return await asyncio.gather(
                *(batcher.submit(f"p{i}", SamplingParams(4)) for i in range(8))
            )
        finally:
            batcher.stop()

    results = asyncio.run(main())
    if engine.kind == "transformers":
        assert sizes == [8, 8, 8, 8]  # prefill + 3 decode steps, all 8 rows each time
    else:
        assert sizes == [8]  # one CTranslate2 call decodes the whole batch
    assert [r.token_ids for r in results] == [
        engine.generate([f"p{i}"], max_new_tokens=4)[0].token_ids for i in range(8)
    ]


def test_a_lone_clients_request_does_not_wait_for_companions(engine):
    # One client, one request at a time: after the first, nobody arrives within max_wait of the
    # previous request, so the batcher starts each at once instead of waiting max_wait to fill.
    sizes: list[int] = []
    batcher = Batcher(engine, max_batch_size=8, max_wait_s=0.5, observe_batch=sizes.append)

    async def main():
        batcher.start()
        try:
            await batcher.submit("warm", SamplingParams(2))
            times = []
            for i in range(3):
                t0 = time.perf_counter()
                await batcher.submit(f"p{i}", SamplingParams(2))
                times.append(time.perf_counter() - t0)
            return times
        finally:
            batcher.stop()

    times = asyncio.run(main())
    assert max(times) < 0.25, times
    assert set(sizes) == {1}


def test_one_bad_request_does_not_fail_its_batch(engine):
    batcher = Batcher(engine, max_batch_size=4, max_wait_s=0.5)

    async def main():
        batcher.start()
        try:
            return await asyncio.gather(
                batcher.submit("ok", SamplingParams(3)),
                batcher.submit("x" * 600, SamplingParams(3)),
                return_exceptions=True,
            )
        finally:
            batcher.stop()

    good, bad = asyncio.run(main())
    assert good.completion_tokens == 3
    assert type(bad).__name__ == "RequestError"


def test_empty_prompt_is_served(client):
    r = client.post(
        "/v1/completions", headers=AUTH, json={"model": "tiny", "prompt": "", "max_tokens": 2}
    )
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 2


def test_a_late_request_joins_the_running_batch(hf_engine):
    # Rows join a running batch only in the transformers engine (CTranslate2 decodes a batch
    # in one call; its late requests run on another replica: see test_serve_hardening).
    engine = hf_engine
    # Continuous batching: B arrives while A is decoding; it must join A's batch (2-row steps)
    # and finish first, instead of waiting for A to drain.
    sizes: list[int] = []
    finished: list[str] = []
    batcher = Batcher(engine, max_batch_size=8, max_wait_s=0.0, observe_batch=sizes.append)

    async def main():
        batcher.start()
        try:
            started = asyncio.Event()

            async def run(name: str, n: int, sink=None):
                r = await batcher.submit(name, SamplingParams(n), on_text=sink)
                finished.append(name)
                return r

            a = asyncio.ensure_future(run("A-long", 60, lambda _: started.set()))
            await started.wait()
            b = await run("B", 3)
            return await a, b
        finally:
            batcher.stop()

    a, b = asyncio.run(main())
    assert finished == ["B", "A-long"]
    assert max(sizes) == 2 and sizes[0] == 1
    assert a.token_ids == engine.generate(["A-long"], max_new_tokens=60)[0].token_ids
    assert b.token_ids == engine.generate(["B"], max_new_tokens=3)[0].token_ids
