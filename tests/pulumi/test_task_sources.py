"""The Pulumi program on a dataset task and a taskModule (#22): the plan carries the task, bad data
fails the program (so `pulumi preview`) naming file and line before any resource is registered."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest
from test_program_mocks import FAST, run_program

from stratos.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _dataset(tmp: Path, rows: list[dict]) -> Path:
    path = tmp / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(task: dict | str, **more: str) -> dict[str, str]:
    return {**FAST, "stratos:task": task if isinstance(task, str) else json.dumps(task), **more}


@pulumi.runtime.test
def test_a_dataset_task_reaches_the_job_through_the_plan(tmp_path, monkeypatch):
    path = _dataset(tmp_path, [{"q": f"{i} + 1?", "a": i + 1} for i in range(40)])
    task = {"dataset": str(path), "question_field": "q", "answer_field": "a", "checker": "numeric"}
    g, monitor = run_program(_config(task), tmp_path, monkeypatch)
    plan = g["plan"]
    assert plan.task == "qa" and plan.task_ref.dataset.checker == "numeric" and plan.task_ref.digest

    def check(_):
        job = next(r for u, r in monitor.resources.items() if u.endswith("::distill-run"))
        carried = json.loads(job.state["planJson"])["task_ref"]
        assert carried["dataset"]["dataset"] == str(path) and carried["digest"] == plan.task_ref.digest

    return g["job"].artifact_uri.apply(check)


@pulumi.runtime.test
def test_an_edited_dataset_is_a_new_plan(tmp_path, monkeypatch):
    rows = [{"q": f"{i} + 1?", "a": i + 1} for i in range(40)]
    path = _dataset(tmp_path, rows)
    task = {"dataset": str(path), "question_field": "q", "answer_field": "a", "checker": "numeric"}
    first, _ = run_program(_config(task), tmp_path, monkeypatch)
    _dataset(tmp_path, rows[:-1])
    second, _ = run_program(_config(task), tmp_path, monkeypatch)
    assert first["plan"].task_ref.digest != second["plan"].task_ref.digest
    return second["endpoint"].url


def test_bad_dataset_fails_the_program_before_any_resource(tmp_path, monkeypatch):
    path = _dataset(tmp_path, [{"q": "1 + 1?", "a": 2}, {"q": "2 + 2?", "a": "four"}])
    task = {"dataset": str(path), "question_field": "q", "answer_field": "a", "checker": "numeric"}
    with pytest.raises((ConfigError, pulumi.RunError)) as err:
        run_program(_config(task), tmp_path, monkeypatch)
    assert f"{path}:2: field 'a': the numeric checker reads no answer in 'four'" in str(err.value)
    assert "stacks/Pulumi.mocktest.yaml" in str(err.value)


@pulumi.runtime.test
def test_a_task_module_is_loaded_by_the_program(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    g, _ = run_program(
        _config("factor", **{"stratos:taskModule": "examples/custom_task/factor_task.py"}), tmp_path, monkeypatch
    )
    assert g["plan"].task == "factor" and g["plan"].task_ref.module == str(ROOT / "examples/custom_task/factor_task.py")  # local: absolute
    assert g["plan"].served_model_name == "stratos-factor"
    return g["endpoint"].url


def test_an_unknown_task_without_its_module_names_the_fix(tmp_path, monkeypatch):
    with pytest.raises((ConfigError, pulumi.RunError), match="no task named 'factorr'.*taskModule"):
        run_program(_config("factorr"), tmp_path, monkeypatch)
