"""The CLI assembles every subcommand, maps Stratos errors to exit codes, and keeps its promises:
``--version``, ``stratos keys`` (which config errors point to), "did you mean" on misspelt names."""

import subprocess
import sys

from typer.testing import CliRunner

from stratos import __version__
from stratos.cli import app

WIDE = CliRunner(env={"COLUMNS": "300"})


def test_help_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "stratos.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("plan", "synth", "distill", "serve", "eval", "report", "push", "keys", "mahjong"):
        assert cmd in out


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
