"""Tasks from everywhere (#22): a `stratos.tasks` entry point, a taskModule in the request, and
`stratos eval` scoring with a dataset task's checker taken from a stack file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from helpers.openai_stub import OpenAIStub
from typer.testing import CliRunner

from stratos.cli import app
from stratos.spec import parse_request
from stratos.tasks.base import _REGISTRY, get_task, task_names

PLUGIN = '''
from stratos.tasks.base import Example, Task


class Echo(Task):
    name = "echo-plugin"

    def generate(self, n, seed, mode="reverse", **controls):
        return [Example(id=str(i), question=f"say {i + seed}", answer=str(i + seed)) for i in range(n)]

    def prompt(self, question):
        return question

    def parse_answer(self, text):
        return text.rsplit(":", 1)[-1].strip() or None

    def check(self, question, answer):
        return question.split()[-1] == answer
'''


def test_an_installed_package_registers_its_task_through_the_entry_point_group(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "echo_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "echo_plugin.py").write_text(PLUGIN)
    (site / "echo_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 1.0\n")
    (site / "echo_plugin-1.0.dist-info" / "entry_points.txt").write_text("[stratos.tasks]\necho-plugin = echo_plugin:Echo\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(_REGISTRY, "echo-plugin", raising=False)
    try:
        assert "echo-plugin" in task_names()
        task = get_task("echo-plugin")
        assert task.check("say 3", task.parse_answer("Answer: 3"))
        assert parse_request({"task": "echo-plugin"}).task_name == "echo-plugin"
    finally:
        _REGISTRY.pop("echo-plugin", None)
        sys.modules.pop("echo_plugin", None)


def test_a_task_module_in_the_request_is_imported_before_the_task_is_looked_up(tmp_path):
    module = tmp_path / "my_tasks.py"
    module.write_text(PLUGIN.replace('"echo-plugin"', '"echo-module"')
                      + "\nfrom stratos.tasks import register_task\nregister_task('echo-module', Echo)\n")
    try:
        req = parse_request({"task": "echo-module", "taskModule": str(module)})
        assert req.task_ref.module == str(module) and req.task_ref.load().name == "echo-module"
    finally:
        _REGISTRY.pop("echo-module", None)


def test_stratos_eval_scores_with_the_dataset_tasks_checker(tmp_path, monkeypatch):
    """The stub answers what follows '#' in the question; half the questions carry a wrong number."""
    monkeypatch.chdir(tmp_path)
    rows = [{"q": f"What is {i} + 1? #{i + 1 if i % 2 else i + 5}", "a": i + 1} for i in range(10)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "request.yaml").write_text(yaml.safe_dump(
        {"task": {"dataset": "qa.jsonl", "question_field": "q", "answer_field": "a", "checker": "numeric"}}
    ))
    with OpenAIStub(respond=lambda body: body["messages"][-1]["content"].split("#")[-1]) as stub:
        res = CliRunner().invoke(app, [
            "eval", "--model", stub.url, "--config", "request.yaml", "--questions", "qa.jsonl", "--json",
        ])
    assert res.exit_code == 0, f"{res.output}\n{res.exception!r}"
    report = json.loads(res.stdout[res.stdout.index("{"):])
    assert report["n"] == 10 and report["correct"] == 5 and report["task"] == "qa"


def test_the_example_custom_task_loads_by_path_from_the_project_root(repo_root: Path, monkeypatch):
    monkeypatch.chdir(repo_root)
    req = parse_request({"task": "factor", "taskModule": "examples/custom_task/factor_task.py"})
    assert req.task_ref.load().name == "factor" and req.task_ref.files() == ["examples/custom_task/factor_task.py"]


def test_a_job_refuses_a_dataset_edited_after_planning(tmp_path, monkeypatch):
    import pytest

    from stratos.exceptions import ConfigError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa.jsonl").write_text('{"question": "1 + 1?", "answer": 2}\n')
    ref = parse_request({"task": {"dataset": "qa.jsonl", "answer_field": "answer", "checker": "numeric"}}).task_ref
    assert ref.load().name == "qa"
    (tmp_path / "qa.jsonl").write_text('{"question": "1 + 1?", "answer": 3}\n')
    with pytest.raises(ConfigError, match="qa.jsonl changed since the plan was made"):
        ref.load()


def test_stratos_eval_without_references_measures_agreement_with_the_runs_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{"q": f"Name {i}? #{'yes' if i % 4 else 'no'}"} for i in range(8)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "request.yaml").write_text(yaml.safe_dump({"task": {"dataset": "qa.jsonl", "question_field": "q", "checker": "none"}}))
    labels = [{"id": str(i), "question": r["q"], "answer": "yes"} for i, r in enumerate(rows)]  # a run's data/test.jsonl
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels))
    with OpenAIStub(respond=lambda body: body["messages"][-1]["content"].split("#")[-1]) as stub:
        args = ["eval", "--model", stub.url, "--config", "request.yaml", "--json"]
        res = CliRunner().invoke(app, [*args, "--questions", "test.jsonl"])
        bare = CliRunner().invoke(app, [*args, "--questions", "qa.jsonl"])
    assert res.exit_code == 0, f"{res.output}\n{res.exception!r}"
    report = json.loads(res.stdout[res.stdout.index("{"):])
    assert report["correct"] == 6 and report["n"] == 8  # the two "no" answers disagree with the labels
    assert "has no reference answers" in str(bare.exception)
