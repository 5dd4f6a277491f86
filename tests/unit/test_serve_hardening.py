"""``stratos serve`` under hostile input and faults: bounded integers, a poisoned request, a client
that leaves mid-stream, a full queue, docs pages on public binds, chat rendering off the event loop.

Each test failed on the server before its fix (the table in the serve report says how).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from helpers.server import serve_in_thread
from helpers.tiny_model import make_tiny_model_dir
from pydantic import SecretStr

from stratos.serve.batcher import Batcher
from stratos.serve.decoding import SamplingParams
from stratos.serve.engines import load_engine
from stratos.serve.server import ServeConfig, build_server_app

TOKEN = "hardening-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENGINES = ["transformers", "ctranslate2"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("hard") / "tiny")


@pytest.fixture(scope="module", params=ENGINES)
def engine(model_dir, request):
    return load_engine(model_dir, engine=request.param, quantization="float32", threads=1, dtype="float32")


def make_app(model_dir, engine, **kw):
    config = ServeConfig(model_dir=model_dir, model_name="tiny", token=SecretStr(TOKEN), **kw)
    return build_server_app(config, engine=engine)


def body(**kw):
    return {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **kw}


def sse(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


# ---------------------------------------------------------------- integer fields
INTEGER_CASES = {
    # field: (accepted values, rejected values)
    "seed": ([2**63 - 1, -(2**63), 0], [2**64, 2**63, -(2**63) - 1, 10**30]),
    "max_tokens": ([1, 4], [0, 2**31, 2**64, -1]),
    "max_completion_tokens": ([1], [0, 2**31, 2**64]),
    "n": ([1], [0, 2, 2**63, 2**64]),
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_integer_extremes_are_400_or_served_never_500(model_dir, engine, stream):
    with TestClient(make_app(model_dir, engine, max_tokens=8)) as c:
        for field, (good, bad) in INTEGER_CASES.items():
            for value in good + bad:
                r = c.post("/v1/chat/completions", headers=AUTH, json=body(temperature=0.7, stream=stream, **{field: value}))
                case = f"{field}={value} stream={stream}: {r.status_code} {r.text[:200]}"
                if value in bad:
                    assert r.status_code == 400 and r.json()["error"]["param"] == field, case
                    continue
                assert r.status_code == 200, case
                if stream:
                    events = sse(r.text)
                    assert events[-1] == "[DONE]" and '"error"' not in r.text, case


# ---------------------------------------------------------------- a poisoned request
def _poisoned(max_new_tokens: int = 3) -> SamplingParams:
    """Sampling params past every check (as a bug upstream could make): torch rejects the seed."""
    params = SamplingParams(max_new_tokens, temperature=0.7, seed=1)
    object.__setattr__(params, "seed", 2**64)
    return params


def test_a_poisoned_request_fails_alone_in_its_batch(engine):
    batcher = Batcher(engine, max_batch_size=8, max_wait_s=0.5)

    async def main():
        batcher.start()
        try:
            return await asyncio.gather(
                batcher.submit("one", SamplingParams(3)),
                batcher.submit("two", _poisoned()),
                batcher.submit("three", SamplingParams(3, temperature=0.7, seed=5)),
                batcher.submit("four", SamplingParams(3)),
                return_exceptions=True,
            )
        finally:
            batcher.stop()

    one, two, three, four = asyncio.run(main())
    assert isinstance(two, Exception)
    assert [r.completion_tokens for r in (one, three, four)] == [3, 3, 3]
    assert one == engine.generate(["one"], max_new_tokens=3)[0]


def test_a_failed_stream_ends_with_an_error_event_and_done(model_dir, engine, monkeypatch):
    def broken(_requests):
        raise RuntimeError("kernel failure")

    with TestClient(make_app(model_dir, engine)) as c:
        monkeypatch.setattr(engine, "prefill", broken)
        r = c.post("/v1/chat/completions", headers=AUTH, json=body(stream=True))
        monkeypatch.undo()
        assert r.status_code == 200
        events = sse(r.text)
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["type"] == "server_error"
        # The server still serves.
        assert c.post("/v1/chat/completions", headers=AUTH, json=body()).status_code == 200


# ---------------------------------------------------------------- a client that leaves
def _count_tokens(engine, monkeypatch) -> list[int]:
    """Count (and slow down) every decoded token of either engine."""
    counted: list[int] = []
    if engine.kind == "transformers":
        inner = engine.step

        def step(batch):
            counted.append(len(batch))
            time.sleep(0.005)
            return inner(batch)

        monkeypatch.setattr(engine, "step", step)
    else:
        inner = engine._on_step

        def on_step(rows, s):
            counted.append(1)
            time.sleep(0.005)
            return inner(rows, s)

        monkeypatch.setattr(engine, "_on_step", on_step)
    return counted


def _wait_until_quiet(counted: list, quiet_s: float = 2.0, limit_s: float = 30.0) -> None:
    """Return once nothing was decoded for ``quiet_s`` (a loaded machine may pause a thread briefly)."""
    deadline = time.monotonic() + limit_s
    last, since = len(counted), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.1)
        if len(counted) != last:
            last, since = len(counted), time.monotonic()


def test_a_client_leaving_mid_stream_cancels_its_generation(model_dir, engine, monkeypatch):
    counted = _count_tokens(engine, monkeypatch)
    app = make_app(model_dir, engine, max_tokens=400)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        with client.stream("POST", "/v1/chat/completions", json=body(max_tokens=400, temperature=0, stream=True)) as r:
            seen = 0
            for line in r.iter_lines():
                seen += line.startswith("data: ")
                if seen >= 4:
                    break  # leave: the response is closed mid-stream
        _wait_until_quiet(counted)
    # Decoding stopped soon after the client left, instead of running to 400 tokens.
    assert len(counted) < 100, f"{len(counted)} tokens decoded after the client left"


# ---------------------------------------------------------------- a full queue
def test_a_full_queue_answers_429_with_retry_after(model_dir, engine, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    inner = engine.prefill

    def held(requests):
        entered.set()
        release.wait(30)
        return inner(requests)

    monkeypatch.setattr(engine, "prefill", held)
    app = make_app(model_dir, engine, max_queue=1, max_batch_size=1, max_wait_ms=0)
    with serve_in_thread(app) as base:
        results: dict[str, httpx.Response] = {}

        def send(name: str) -> None:
            results[name] = httpx.post(f"{base}/v1/chat/completions", headers=AUTH, json=body(), timeout=30)

        first = threading.Thread(target=send, args=("first",))
        first.start()
        assert entered.wait(10)  # the worker is busy with the first request
        second = threading.Thread(target=send, args=("second",))
        second.start()
        batcher = app.state.serving.batcher
        for _ in range(100):
            if batcher._queue.qsize() == 1:
                break
            time.sleep(0.05)
        third = httpx.post(f"{base}/v1/chat/completions", headers=AUTH, json=body(), timeout=5)
        release.set()
        first.join(30)
        second.join(30)
    assert third.status_code == 429 and third.headers["retry-after"] == "1"
    assert third.json()["error"]["code"] == "queue_full"
    assert results["first"].status_code == 200 and results["second"].status_code == 200


# ---------------------------------------------------------------- docs pages, messages, event loop
@pytest.mark.parametrize(
    ("host", "docs", "visible"),
    [("127.0.0.1", None, True), ("0.0.0.0", None, False), ("10.0.0.5", None, False), ("0.0.0.0", True, True)],
)
def test_docs_pages_are_off_on_public_binds_by_default(model_dir, engine, host, docs, visible):
    with TestClient(make_app(model_dir, engine, host=host, docs=docs)) as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (c.get(path).status_code == 200) == visible, path
        assert c.get("/health").status_code == 200


def test_messages_are_bounded(model_dir, engine):
    with TestClient(make_app(model_dir, engine)) as c:
        many = [{"role": "user", "content": "x"}] * 257
        r = c.post("/v1/chat/completions", headers=AUTH, json=body(messages=many))
        assert r.status_code == 400 and r.json()["error"]["param"] == "messages"


def test_chat_rendering_runs_off_the_event_loop(model_dir, engine, monkeypatch):
    inner = engine.render_chat

    def slow_template(messages):
        time.sleep(1.5)
        return inner(messages)

    monkeypatch.setattr(engine, "render_chat", slow_template)
    with serve_in_thread(make_app(model_dir, engine)) as base:
        chat = threading.Thread(
            target=httpx.post, args=(f"{base}/v1/chat/completions",), kwargs={"headers": AUTH, "json": body(), "timeout": 30}
        )
        chat.start()
        time.sleep(0.3)  # the chat request is inside the template now
        t0 = time.perf_counter()
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        waited = time.perf_counter() - t0
        chat.join(30)
    assert waited < 0.7, f"/health waited {waited:.2f} s behind a chat template"
