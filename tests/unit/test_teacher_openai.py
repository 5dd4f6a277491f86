"""The OpenAI-compatible teacher client against a local stub of the OpenAI API (free port).

What a user would notice: answers in prompt order, keys sent only where they belong,
transient faults retried (``Retry-After`` bounded), one bad response not sinking a batch,
paid answers not bought twice, ``n`` honoured even by servers that ignore it, reasoning
models' parameters, and the Batch API with a crash in the middle.
"""

from __future__ import annotations

import json
import time

import pytest
from helpers.openai_stub import OpenAIStub, json_reply

from stratos.exceptions import TeacherError
from stratos.synth.teachers import OpenAITeacher, make_teacher, openai_batch
from stratos.tasks.base import get_task

HTML_200 = (200, {"Content-Type": "text/html"}, b"<html>upstream proxy page</html>")
NO_CHOICES = json_reply(200, {"object": "chat.completion", "choices": "none"})


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "STRATOS_TEACHER_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)


def teacher(stub: OpenAIStub, tmp_path, **kw) -> OpenAITeacher:
    kw.setdefault("backoff_s", 0.01)
    return OpenAITeacher(stub.url, kw.pop("model", "m"), cache_dir=tmp_path / "cache", **kw)


def auth(stub: OpenAIStub) -> set[str | None]:
    return {r["headers"].get("authorization") for r in stub.chat_calls}


def test_answers_in_prompt_order_with_bounded_concurrency_and_the_stack_key(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATOS_TEACHER_API_KEY", "sk-stack")
    with OpenAIStub(delay=0.05) as stub:
        out = teacher(stub, tmp_path, concurrency=3).generate([f"q#{i}m" for i in range(12)], n=2)
    assert [o[0] for o in out] == [f"Answer: {i}m" for i in range(12)] and all(len(o) == 2 for o in out)
    assert 2 <= stub.max_in_flight <= 3
    assert auth(stub) == {"Bearer sk-stack"}


def test_openai_key_never_reaches_a_local_http_teacher(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-secret")
    with OpenAIStub() as stub:
        teacher(stub, tmp_path).generate(["q#1m"])
        headers = stub.chat_calls[0]["headers"]
    assert "authorization" not in headers and "openai-organization" not in headers


def test_openai_key_goes_where_openai_base_url_points_and_api_key_env_names_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    with OpenAIStub() as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
        t = make_teacher("openai:gpt-4o-mini", get_task("mahjong"), cache_dir=tmp_path / "a")
        assert t.base_url == stub.url
        t.generate(["q#1m"])
        assert auth(stub) == {"Bearer sk-openai"} and stub.chat_calls[0]["body"]["model"] == "gpt-4o-mini"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("VLLM_KEY", "sk-vllm")
    with OpenAIStub() as stub:
        teacher(stub, tmp_path, api_key_env="VLLM_KEY").generate(["q#1m"])
        assert auth(stub) == {"Bearer sk-vllm"}
    with pytest.raises(TeacherError, match="MISSING_KEY"):
        OpenAITeacher("http://127.0.0.1:9/v1", "m", api_key_env="MISSING_KEY", cache_dir=tmp_path)


def test_transient_errors_are_retried_and_auth_errors_stop_at_once(tmp_path):
    with OpenAIStub(script=[json_reply(503, {}), json_reply(429, {})]) as stub:
        assert teacher(stub, tmp_path / "a", concurrency=1).generate(["x#1m"]) == [["Answer: 1m"]]
        assert len(stub.chat_calls) == 3
    with OpenAIStub(script=[json_reply(401, {"error": {"message": "bad key"}})] * 5) as stub:
        with pytest.raises(TeacherError, match="refused.*401"):
            teacher(stub, tmp_path / "b").generate(["x"])
        assert len(stub.chat_calls) == 1
    with OpenAIStub(script=[json_reply(500, {})] * 10) as stub:
        with pytest.raises(TeacherError, match="failed every request after 3 attempts"):
            teacher(stub, tmp_path / "c", max_retries=2).generate(["x"])
        assert len(stub.chat_calls) == 3


def test_retry_after_is_honoured_but_bounded(tmp_path):
    with OpenAIStub(script=[json_reply(429, {}, {"Retry-After": "0.4"})]) as stub:
        t0 = time.monotonic()
        teacher(stub, tmp_path / "a").generate(["x#1m"])
        assert time.monotonic() - t0 >= 0.4
    with OpenAIStub(script=[json_reply(503, {}, {"Retry-After": "3600"})]) as stub:
        t0 = time.monotonic()
        assert teacher(stub, tmp_path / "b", max_retry_after_s=0.2).generate(["x#1m"]) == [["Answer: 1m"]]
        assert time.monotonic() - t0 < 5  # an hour asked, 0.2 s waited


def test_malformed_200_is_retried_and_one_bad_request_does_not_sink_the_batch(tmp_path):
    with OpenAIStub(script=[HTML_200, NO_CHOICES]) as stub:
        assert teacher(stub, tmp_path / "a", concurrency=1).generate(["x#1m"]) == [["Answer: 1m"]]
        assert len(stub.chat_calls) == 3

    def poison(body):  # the request for one prompt always gets a broken body; the others are fine
        return HTML_200 if body["messages"][-1]["content"] == "q#bad" else json_reply(200, _ok(body))

    with OpenAIStub(script=[poison] * 100) as stub:
        t = teacher(stub, tmp_path / "b", max_retries=2)
        out = t.generate(["q#1m", "q#bad", "q#3s"])
    assert out == [["Answer: 1m"], [""], ["Answer: 3s"]]
    assert t.stats["failed"] == 1


def test_timeout_fails_with_a_clear_error(tmp_path):
    with OpenAIStub(delay=1.0) as stub:
        with pytest.raises(TeacherError, match="Timeout"):
            teacher(stub, tmp_path, timeout_s=0.2, max_retries=1).generate(["x#1m"])


def test_n_is_emulated_when_the_server_ignores_it(tmp_path):
    with OpenAIStub(ignore_n=True) as stub:
        out = teacher(stub, tmp_path / "a").generate(["q#1m", "q#2p"], n=3, temperature=0.8)
        assert all(len(set(o)) == 3 for o in out)  # three different samples, not one repeated
        assert len(stub.chat_calls) == 2 + 2 * 2
    with OpenAIStub(ignore_n=True) as stub:
        out = teacher(stub, tmp_path / "b").generate(["q#1m"], n=3, temperature=0.0)
        assert out == [["Answer: 1m"] * 3] and len(stub.chat_calls) == 1  # greedy: one answer, repeated


def test_reasoning_models_get_max_completion_tokens_and_a_server_that_rejects_max_tokens_is_adapted_to(tmp_path):
    with OpenAIStub() as stub:
        teacher(stub, tmp_path / "a", model="o3-mini").generate(["x#1m"], max_new_tokens=50)
        body = stub.chat_calls[0]["body"]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body and "temperature" not in body
    with OpenAIStub(reject_max_tokens=True, reject_temperature=True) as stub:
        t = teacher(stub, tmp_path / "b", concurrency=1)
        assert t.generate(["x#1m"], max_new_tokens=50)[0][0].startswith("Answer: 1m")
        t.generate(["x#2m", "x#3m"])
        bodies = [r["body"] for r in stub.chat_calls]
    assert len(bodies) == 3 + 2  # two rejections, then the fixed request; later ones go right first time
    assert all("max_tokens" not in b and "temperature" not in b for b in bodies[-3:])


def test_paid_answers_are_kept_and_a_rerun_asks_only_for_the_rest(tmp_path):
    prompts = [f"q#{i}m" for i in range(6)]

    def down_for_two(body):
        bad = body["messages"][-1]["content"] in {"q#4m", "q#5m"}
        return json_reply(500, {}) if bad else json_reply(200, _ok(body))

    with OpenAIStub(script=[down_for_two] * 10) as stub:
        first = teacher(stub, tmp_path, max_retries=1).generate(prompts)
        assert [o[0] for o in first[:4]] == [f"Answer: {i}m" for i in range(4)] and first[4:] == [[""], [""]]
        cache = next((tmp_path / "cache").glob("*.jsonl"))
        with open(cache, "a") as f:
            f.write('{"key": "torn-by-a-cr')  # a crash mid-write leaves half a line
        stub.script.clear()
        done = len(stub.chat_calls)
        again = teacher(stub, tmp_path).generate(prompts)  # a new process: only the file remembers
        asked = sorted(r["body"]["messages"][-1]["content"] for r in stub.chat_calls[done:])
    assert asked == ["q#4m", "q#5m"]
    assert [o[0] for o in again] == [f"Answer: {i}m" for i in range(6)]


def test_batch_api_answers_and_a_crash_while_waiting_resumes_the_same_batch(tmp_path, monkeypatch):
    prompts = ["q#1m", "q#2p", "q#3s"]
    real_collect = openai_batch._collect

    def crash(*a, **k):
        raise KeyboardInterrupt  # the job is killed while the batch runs

    with OpenAIStub(batch_polls=2) as stub:
        monkeypatch.setattr(openai_batch, "_collect", crash)
        with pytest.raises(KeyboardInterrupt):
            teacher(stub, tmp_path, batch=True, batch_poll_s=0.01).generate(prompts, n=2)
        monkeypatch.setattr(openai_batch, "_collect", real_collect)
        out = teacher(stub, tmp_path, batch=True, batch_poll_s=0.01).generate(prompts, n=2)
        created = [r for r in stub.requests if r["path"] == "/v1/batches"]
        uploaded = stub.files["file-1"].decode().splitlines()
    assert out == [[f"Answer: {q[-2:]}"] * 2 for q in prompts]
    assert len(created) == 1 and not stub.chat_calls  # one batch, paid once, no synchronous calls
    line = json.loads(uploaded[0])
    assert line["url"] == "/v1/chat/completions" and line["body"]["n"] == 2


def test_batch_lines_that_fail_leave_empty_answers_not_an_exception(tmp_path):
    with OpenAIStub(batch_fail_lines=1, batch_polls=0) as stub:
        t = teacher(stub, tmp_path, batch=True, batch_poll_s=0.01)
        out = t.generate(["q#1m", "q#2p"])
    assert out == [[""], ["Answer: 2p"]] and t.stats["failed"] == 1


def test_make_teacher_reads_endpoint_specs(tmp_path):
    task = get_task("mahjong")
    t = make_teacher("http://127.0.0.1:9/v1#Qwen/Qwen2.5-7B-Instruct&batch=true", task, threads=2, cache_dir=tmp_path)
    assert isinstance(t, OpenAITeacher) and t.model == "Qwen/Qwen2.5-7B-Instruct" and t.batch
    assert make_teacher("gpt-4o", task, cache_dir=tmp_path).base_url == "https://api.openai.com/v1"


def _ok(body):
    from helpers.openai_stub import completion

    return completion(body, int(body.get("n") or 1))


@pytest.mark.slow
def test_against_stratos_serve_which_takes_only_n_1(tmp_path):
    from helpers.server import serve_in_thread
    from helpers.tiny_model import make_tiny_model_dir
    from pydantic import SecretStr

    from stratos.serve.engine import GenerationEngine
    from stratos.serve.server import ServeConfig, build_server_app

    model_dir = make_tiny_model_dir(tmp_path / "student")
    engine = GenerationEngine.from_dir(model_dir, threads=1)
    config = ServeConfig(model_dir=model_dir, model_name="student", token=SecretStr("serve-token"))
    with serve_in_thread(build_server_app(config, engine=engine)) as base:
        t = OpenAITeacher(f"{base}/v1", "student", api_key="serve-token", cache_dir=tmp_path / "cache")
        greedy = t.generate(["hello", "there"], max_new_tokens=6)
        sampled = t.generate(["hello"], n=3, temperature=1.0, max_new_tokens=6)
    expected = [r.text for r in engine.chat([[{"role": "user", "content": p}] for p in ("hello", "there")], max_new_tokens=6)]
    assert [g[0] for g in greedy] == expected
    assert len(sampled[0]) == 3 and t.stats["failed"] == 0 and t.ignores_n  # n=3 asked as three n=1 requests
