"""The official `openai` client against our server over real loopback HTTP: models, chat, streaming."""

from __future__ import annotations

import openai
import pytest
from helpers.server import serve_in_thread
from helpers.tiny_model import make_tiny_model_dir
from pydantic import SecretStr

from stratos.serve.engine import GenerationEngine
from stratos.serve.server import ServeConfig, build_server_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    model_dir = make_tiny_model_dir(tmp_path_factory.mktemp("oa") / "student")
    engine = GenerationEngine.from_dir(model_dir, threads=1)
    config = ServeConfig(model_dir=model_dir, model_name="student", token=SecretStr("oa-token"))
    with serve_in_thread(build_server_app(config, engine=engine)) as base:
        yield base, engine


def client(base: str, key: str = "oa-token") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=60)


def test_models_list(served):
    base, _ = served
    assert [m.id for m in client(base).models.list()] == ["student"]


def test_chat_completion(served):
    base, engine = served
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    r = client(base).chat.completions.create(
        model="student", messages=messages, max_tokens=7, temperature=0
    )
    expected = engine.chat([messages], max_new_tokens=7)[0]
    assert r.choices[0].message.content == expected.text
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 7 and r.usage.prompt_tokens == expected.prompt_tokens


def test_chat_streaming(served):
    base, engine = served
    messages = [{"role": "user", "content": "stream please"}]
    stream = client(base).chat.completions.create(
        model="student",
        messages=messages,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == engine.chat([messages], max_new_tokens=8)[0].text
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["length"]
    assert chunks[-1].usage.completion_tokens == 8


def test_completions_endpoint(served):
    base, engine = served
    r = client(base).completions.create(model="student", prompt="abc", max_tokens=4, temperature=0)
    assert r.choices[0].text == engine.generate(["abc"], max_new_tokens=4)[0].text


def test_wrong_key_and_unknown_model_raise_the_sdk_errors(served):
    base, _ = served
    with pytest.raises(openai.AuthenticationError):
        client(base, key="wrong").models.list()
    with pytest.raises(openai.NotFoundError):
        client(base).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError):
        client(base).chat.completions.create(
            model="student", messages=[{"role": "user", "content": "x"}], temperature=3
        )
