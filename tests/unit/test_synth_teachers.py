"""Teacher clients: the OpenAI-compatible HTTP client against a local fake server, rules, local HF."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stratos.exceptions import TeacherError
from stratos.synth.teachers import LocalHFTeacher, OpenAITeacher, RuleTeacher, make_teacher
from stratos.tasks.base import get_task


class FakeServer:
    """A chat-completions server on 127.0.0.1 with scripted failures and in-flight tracking."""

    def __init__(self, fail_first: int = 0, status: int = 503, delay: float = 0.05) -> None:
        self.fail_first, self.status, self.delay = fail_first, status, delay
        self.calls, self.in_flight, self.max_in_flight = 0, 0, 0
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.calls += 1
                    n_call = outer.calls
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    outer.auth.append(self.headers.get("Authorization"))
                time.sleep(outer.delay)
                with outer.lock:
                    outer.in_flight -= 1
                if n_call <= outer.fail_first:
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "scripted failure"}}')
                    return
                prompt = body["messages"][-1]["content"]
                text = "Answer: " + prompt.split("#")[-1]
                out = {"choices": [{"index": i, "message": {"role": "assistant", "content": text}} for i in range(body.get("n", 1))]}
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *a) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_teacher_answers_in_order_with_bounded_concurrency_and_key(monkeypatch):
    monkeypatch.setenv("STRATOS_TEACHER_API_KEY", "sk-test")
    with FakeServer(delay=0.05) as srv:
        t = OpenAITeacher(srv.url, "m", concurrency=3)
        out = t.generate([f"q#{i}m" for i in range(12)], n=2)
    assert [o[0] for o in out] == [f"Answer: {i}m" for i in range(12)]
    assert all(len(o) == 2 for o in out)
    assert srv.max_in_flight <= 3 and srv.max_in_flight >= 2
    assert set(srv.auth) == {"Bearer sk-test"}


def test_http_teacher_retries_transient_errors_then_succeeds():
    with FakeServer(fail_first=2, status=503) as srv:
        t = OpenAITeacher(srv.url, "m", api_key="k", concurrency=1, backoff_s=0.01)
        assert t.generate(["x#1m"]) == [["Answer: 1m"]]
    assert srv.calls == 3


def test_http_teacher_fails_fast_on_auth_error_and_after_retries():
    with FakeServer(fail_first=100, status=401) as srv:
        with pytest.raises(TeacherError, match="refused"):
            OpenAITeacher(srv.url, "m", api_key="bad", backoff_s=0.01).generate(["x"])
        assert srv.calls == 1
    with FakeServer(fail_first=100, status=500) as srv:
        with pytest.raises(TeacherError, match="after 3 attempts"):
            OpenAITeacher(srv.url, "m", api_key="k", max_retries=2, backoff_s=0.01).generate(["x"])
        assert srv.calls == 3


def test_http_teacher_times_out():
    with FakeServer(delay=1.0) as srv:
        t = OpenAITeacher(srv.url, "m", api_key="k", timeout_s=0.2, max_retries=1, backoff_s=0.01)
        with pytest.raises(TeacherError, match="Timeout"):
            t.generate(["x#1m"])


def test_rule_teacher_and_make_teacher_specs():
    task = get_task("mahjong")
    ex = task.generate(3, seed=0)
    t = make_teacher("rules", task)
    assert isinstance(t, RuleTeacher)
    t.register([e.question for e in ex])
    out = t.generate([task.prompt(e.question) for e in ex])
    assert [task.parse_answer(o[0]) for o in out] == [e.answer for e in ex]
    assert isinstance(make_teacher("http://127.0.0.1:9/v1#gpt", task), OpenAITeacher)
    assert isinstance(make_teacher("gpt-4o", task), OpenAITeacher)  # zoo id with an api: source
    assert isinstance(make_teacher("/some/model/dir", task), LocalHFTeacher)


@pytest.mark.slow
def test_local_hf_teacher_batches_a_model_dir(tmp_path):
    from helpers.tiny_model import make_tiny_model_dir

    d = make_tiny_model_dir(tmp_path / "m", manifest=False)
    t = LocalHFTeacher(str(d), batch_size=2, threads=2)
    out = t.generate(["a", "bb", "ccc"], max_new_tokens=5)
    again = t.generate(["ccc"], max_new_tokens=5)
    assert len(out) == 3 and all(len(o) == 1 for o in out)
    assert out[2] == again[0]  # greedy and batch-independent
    assert t.tokenizer_id and len(t.tokenizer_id) == 16
