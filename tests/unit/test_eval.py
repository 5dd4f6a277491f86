"""`stratos eval` pieces: percentiles, question files, scoring, and a run through a real HTTP server.

Scores and latencies are the models of ``stratos.metrics``, the ones the job's report.json uses."""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pytest
from helpers.server import serve_in_thread
from helpers.tiny_model import make_tiny_model_dir
from pydantic import SecretStr

from stratos.evaluate.client import Reply, normalise_base_url
from stratos.evaluate.runner import Question, evaluate_endpoint, read_questions, score_replies
from stratos.exceptions import ConfigError, EndpointError
from stratos.metrics import ClassScore, latency_of, percentile
from stratos.serve.engine import GenerationEngine
from stratos.serve.server import ServeConfig, build_server_app
from stratos.tasks.base import Task, get_task, register_task


class EchoTask(Task):
    """A fake task: the right answer to a question is whatever the tiny model says when greedy.

    ``expected`` maps question -> text; a question mapped to a wrong text must be scored wrong.
    """

    name = "echo-test"
    question_field = "q"
    expected: dict[str, str] = {}

    def generate(self, n, seed, mode="reverse", **controls):
        raise NotImplementedError("questions come from the test")

    def prompt(self, question: str) -> str:
        return f"say {question}"

    def parse_answer(self, text: str):
        return text or None

    def check(self, question: str, answer) -> bool:
        return self.expected.get(question) == answer


@pytest.mark.parametrize("q", [0, 10, 50, 95, 99, 100])
def test_percentile_matches_numpy(q):
    xs = [0.3, 1.2, 0.7, 5.0, 2.2, 0.9, 3.3]
    assert percentile(xs, q) == pytest.approx(np.percentile(xs, q))


def test_latency_is_in_ms_and_none_when_nothing_was_measured():
    s = latency_of([0.1, 0.2, 0.3])
    assert s.p50_ms == pytest.approx(200) and s.max_ms == pytest.approx(300) and s.n == 3
    assert latency_of([]).p95_ms is None and math.isnan(percentile([], 50))


def test_base_url_normalisation():
    assert (
        normalise_base_url("http://h:1") == normalise_base_url("http://h:1/v1/") == "http://h:1/v1"
    )


def test_read_questions_uses_the_task_field_and_difficulty(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text(
        '{"hand": "1112345678999m", "difficulty": "easy"}\n\n{"hand": "123m456p789s1122z"}\n'
    )
    qs = read_questions(f, get_task("mahjong"))
    assert qs == [Question("1112345678999m", "easy"), Question("123m456p789s1122z", None)]
    (tmp_path / "bad.jsonl").write_text('{"other": 1}\n')
    with pytest.raises(ConfigError, match="bad.jsonl:1"):
        read_questions(tmp_path / "bad.jsonl", get_task("mahjong"))
    (tmp_path / "notjson.jsonl").write_text("hand\n")
    with pytest.raises(ConfigError, match="not JSON"):
        read_questions(tmp_path / "notjson.jsonl", get_task("mahjong"))


def test_scoring_uses_the_task_checker_and_counts_errors_as_wrong():
    task = get_task("mahjong")
    qs = [
        Question("1112345678999m", "hard"),
        Question("1112345678999m", "hard"),
        Question("123m456p789s1122z", "easy"),
    ]
    replies = [
        Reply("Answer: 1m 2m 3m 4m 5m 6m 7m 8m 9m", 0.1),
        Reply("Answer: 1m", 0.1),
        Reply(None, 0.1, error="x"),
    ]
    scored = score_replies(task, qs, replies)
    assert scored.correct == 1 and scored.accuracy == pytest.approx(1 / 3)
    assert scored.by_class == {
        "easy": ClassScore(n=1, correct=0, accuracy=0.0),
        "hard": ClassScore(n=2, correct=1, accuracy=0.5),
    }
    assert scored.highlights["single_suit_accuracy"] is None  # the task's own figures, here none asked


def test_evaluate_through_a_live_server(tmp_path):
    model_dir = make_tiny_model_dir(tmp_path / "tiny")
    engine = GenerationEngine.from_dir(model_dir, threads=1)
    task = EchoTask()
    register_task(task.name, lambda: task)
    questions = [
        Question(q, d)
        for q, d in [("a", "easy"), ("bb", "easy"), ("ccc", "hard"), ("dddd", "hard")]
    ]
    greedy = engine.chat(
        [[{"role": "user", "content": task.prompt(q.text)}] for q in questions], max_new_tokens=6
    )
    task.expected = {q.text: g.text for q, g in zip(questions, greedy, strict=True)}
    task.expected["dddd"] = "wrong on purpose"
    config = ServeConfig(model_dir=model_dir, model_name="tiny", token=SecretStr("tok"))
    progress: list[Reply] = []
    with serve_in_thread(build_server_app(config, engine=engine)) as base:
        report = asyncio.run(
            evaluate_endpoint(
                base, "tok", get_task("echo-test"), questions, concurrency=4, max_tokens=6,
                on_reply=progress.append,
            )
        )
        bad_token = asyncio.run(
            evaluate_endpoint(
                base, "nope", task, questions, concurrency=2, max_tokens=6, model="tiny"
            )
        )
    assert (report.n, report.correct, report.errors) == (4, 3, 0)
    assert len(progress) == 4  # the CLI's progress bar advances once per reply
    assert report.by_class == {
        "easy": ClassScore(n=2, correct=2, accuracy=1.0),
        "hard": ClassScore(n=2, correct=1, accuracy=0.5),
    }
    lat = report.latency
    assert lat.p50_ms > 0 and lat.p99_ms >= lat.p95_ms >= lat.p50_ms
    assert report.throughput_rps > 0 and report.tokens_per_s > 0
    assert json.loads(report.model_dump_json())["endpoint"] == f"{base}/v1"
    assert (
        bad_token.errors == 4 and bad_token.accuracy == 0 and "401" in bad_token.error_examples[0]
    )


def test_an_endpoint_that_is_down_is_one_line_and_exit_1(tmp_path):
    import subprocess
    import sys

    from stratos.evaluate.local import free_port

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"hand": "1112345678999m"}) + "\n")
    url = f"http://127.0.0.1:{free_port()}"
    p = subprocess.run(
        [sys.executable, "-m", "stratos.cli", "eval", "--model", url, "--questions", str(questions), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 1 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach " + url), p.stderr


def test_a_refused_token_is_one_clear_error(tmp_path):
    model_dir = make_tiny_model_dir(tmp_path / "tiny")
    config = ServeConfig(model_dir=model_dir, model_name="tiny", token=SecretStr("tok"))
    engine = GenerationEngine.from_dir(model_dir, threads=1)
    with serve_in_thread(build_server_app(config, engine=engine)) as base:
        with pytest.raises(EndpointError, match="refused the API token .*--token-file"):
            asyncio.run(evaluate_endpoint(base, "nope", EchoTask(), [Question("a")], max_tokens=2))


def test_the_jobs_latency_records_the_shape_of_what_it_timed(tmp_path):
    """A latency is comparable only at a request shape, so the job's records its own: the mean
    prompt and generated tokens of the questions it timed (``calibration.latency_at_run`` reads them)."""
    from stratos.distill.evaluation import latency

    engine = GenerationEngine.from_dir(make_tiny_model_dir(tmp_path / "m"), threads=1, dtype="float32")
    task = get_task("mahjong")
    questions = [e.question for e in task.generate(3, seed=1, mode="reverse")[:3]]
    lat = latency(engine, task, questions, max_new_tokens=4)
    prompts = [engine.render_chat([{"role": "user", "content": task.prompt(q)}]) for q in questions]
    assert lat.n == 3 and lat.prompt_tokens == pytest.approx(np.mean([engine.count_tokens(p) for p in prompts]))
    assert 0 < lat.completion_tokens <= 4
