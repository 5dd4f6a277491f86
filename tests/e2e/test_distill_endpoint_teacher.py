"""`stratos distill` with an OpenAI-compatible endpoint as the teacher (a stub of the OpenAI
API that answers Mahjong correctly): the job probes, synthesises and scores through the HTTP
client, keeps every paid answer in the run dir, and a run handed those answers asks for none.
It also leaves the training set in `messages` format with its dataset card."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from helpers.openai_stub import OpenAIStub
from test_distill_job import TINY, _env

from stratos.tasks.base import get_task
from stratos.zoo.endpoint import TeacherEndpoint

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TASK = get_task("mahjong")


def solve(body: dict) -> str:
    """A perfect Mahjong teacher: the hand from the prompt, the solver's waits as the answer line."""
    hand = re.search(r"Hand \(13 tiles\): (\S+)", body["messages"][-1]["content"]).group(1)
    return TASK.format_answer(TASK.solve(hand))


def distill(tmp_path, out, teacher: str):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**TINY, "teacher": teacher, "max_steps": 8, "eval_every": 8}))
    cmd = [sys.executable, "-m", "stratos.cli", "distill", "--config", str(cfg), "--out", str(out), "--quiet"]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


def test_job_with_an_endpoint_teacher_keeps_paid_answers_and_exports_the_dataset(tmp_path):
    with OpenAIStub(respond=solve) as stub:
        teacher = TeacherEndpoint(base_url=stub.url, model="perfect").spec()
        first = distill(tmp_path, tmp_path / "run1", teacher)
        asked = len(stub.chat_calls)
        assert first["probe"]["accuracy"] == 1.0 and first["metrics"]["teacher_accuracy"] == 1.0
        assert first["synthesis"]["teacher_accepted"] == TINY["rationale_budget"]
        answers = list((tmp_path / "run1" / "teacher_answers").glob("*.jsonl"))
        assert answers and sum(1 for _ in answers[0].open()) >= asked
        shutil.copytree(tmp_path / "run1" / "teacher_answers", tmp_path / "run2" / "teacher_answers")
        second = distill(tmp_path, tmp_path / "run2", teacher)
        assert len(stub.chat_calls) == asked  # every answer was already paid for
    assert second["metrics"]["teacher_accuracy"] == 1.0
    rows = [json.loads(x) for x in (tmp_path / "run1" / "dataset" / "train.jsonl").read_text().splitlines()]
    assert rows and all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in rows)
    assert "configs:" in (tmp_path / "run1" / "dataset" / "README.md").read_text()
