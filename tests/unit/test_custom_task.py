"""The example custom task (examples/custom_task) works on the Task protocol and through `stratos synth`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from stratos.cli import app
from stratos.exceptions import StratosError
from stratos.tasks import Task, get_task

MODULE = "examples/custom_task/factor_task.py"


@pytest.fixture()
def factor(repo_root):
    from stratos.synth.cli import load_task_module

    load_task_module(str(repo_root / MODULE))
    return get_task("factor")


def _exit_code(res) -> int:
    """The code `stratos` would exit with: main() maps a StratosError to its exit_code."""
    return res.exception.exit_code if isinstance(res.exception, StratosError) else res.exit_code


def test_factor_task_implements_the_protocol(factor):
    assert isinstance(factor, Task)
    items = factor.generate(100, seed=0) + factor.generate(100, seed=0, mode="forward")
    assert items[:100] == factor.generate(100, seed=0)
    for e in items:
        assert factor.check(e.question, e.answer)
        text = factor.rationale(e.question, e.answer)
        assert factor.check_rationale(e.question, text) == []
        assert factor.parse_answer(text) == e.answer
    assert factor.parse_answer("so the answer: 7, 2, 2") == [2, 2, 7]
    assert factor.parse_answer("") is None
    assert not factor.check("84", [2, 42])
    assert factor.check_rationale("84", "84 / 4 = 21\n21 / 3 = 7\n7 / 7 = 1\nAnswer: 3 4 7")
    s = factor.score(items[:2], [items[0].answer, None])
    assert s["accuracy"] == 0.5 and s["by_difficulty"]


def test_factor_task_runs_through_stratos_synth(tmp_path, repo_root):
    out = tmp_path / "factor.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "synth",
            "factor",
            "--task-module",
            str(repo_root / MODULE),
            "--n",
            "50",
            "--seed",
            "2",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 50 and all(r["factors"] == r["answer"] and r["rationale"] for r in rows)
    # and as a separate process, the way the README shows it
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratos.cli",
            "synth",
            "factor",
            "--task-module",
            MODULE,
            "--mode",
            "forward",
            "--n",
            "20",
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=repo_root,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n"] == 20


def test_task_module_errors_are_actionable(tmp_path):
    res = CliRunner().invoke(
        app, ["synth", "factor", "--task-module", "no/such/file.py", "--out", str(tmp_path / "x")]
    )
    assert _exit_code(res) == 2 and "no such file" in str(res.exception)
