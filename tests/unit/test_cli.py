"""The `stratos` command: every subcommand is assembled, errors become exit codes and one-line messages,
and it keeps its promises: ``--version``, ``stratos keys`` (which config errors point to), "did you mean".

Runs the real console entry point (``python -m stratos.cli``) in a subprocess, so the
exit code is the one a shell or CI sees: 0 on success, 2 for bad input (a
``ConfigError`` or a usage error), 1 for other Stratos errors, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from stratos import __version__
from stratos.cli import app

WIDE = CliRunner(env={"COLUMNS": "300"})


def stratos(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stratos.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_help_lists_every_subcommand():
    r = stratos("--help")
    assert r.returncode == 0
    for cmd in ("plan", "synth", "distill", "serve", "eval", "report", "push", "keys", "mahjong"):
        assert cmd in r.stdout


def test_success_exits_zero():
    r = stratos("mahjong", "solve", "1112345678999m", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["waits"] == [f"{n}m" for n in range(1, 10)]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("synth", "chess", "--out", "x.jsonl"), 2, "unknown task 'chess'"),  # UnknownNameError
        (("synth", "mahjong", "--colour", "red", "--out", "x.jsonl"), 2, "--min-waits"),  # the task's flags
        (("distill", "--config", "missing.json", "--out", "run"), 2, "does not exist"),  # ConfigError
        (("report", "."), 1, "has not finished"),  # ArtifactError
        (("mahjong", "solve", "123m"), 2, "13 tiles"),
        (("synth",), 2, "Missing argument"),  # a usage error
    ],
)
def test_errors_exit_with_their_code_and_one_message(tmp_path, args, code, says):
    r = stratos(*args, cwd=tmp_path)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert says in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr


def test_version():
    r = WIDE.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"stratos {__version__}"


def test_a_config_error_points_to_a_listing_that_exists(tmp_path):
    bad = tmp_path / "req.yaml"
    bad.write_text("constraints:\n  min_acuracy: 0.9\n")
    out = subprocess.run(
        [sys.executable, "-m", "stratos.cli", "plan", "--config", str(bad)], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "did you mean 'min_accuracy'" in out.stderr and "`stratos keys` lists every key" in out.stderr
    listing = WIDE.invoke(app, ["keys"]).output
    for key in ("constraints.min_accuracy", "teacher.base_url", "teacher.api_key_env", "job.profile", "spot"):
        assert key in listing


def test_did_you_mean_for_tasks_and_models(tmp_path):
    task = WIDE.invoke(app, ["synth", "mahjon", "--n", "2", "--out", str(tmp_path / "x.jsonl")])
    assert "did you mean 'mahjong'" in str(task.exception)
    req = tmp_path / "req.yaml"
    req.write_text("target: local\nteacher: smollm2-135m\n")
    out = subprocess.run(
        [sys.executable, "-m", "stratos.cli", "plan", "--config", str(req)], capture_output=True, text=True
    )
    assert out.returncode == 2 and "did you mean 'smollm2-135m-instruct'" in out.stderr
