"""The `stratos` command: every subcommand is assembled, and errors become exit codes and one-line messages.

Runs the real console entry point (``python -m stratos.cli``) in a subprocess, so the
exit code is the one a shell or CI sees: 0 on success, 2 for bad input (a
``ConfigError`` or a usage error), 1 for other Stratos errors, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def stratos(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stratos.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_help_lists_every_subcommand():
    r = stratos("--help")
    assert r.returncode == 0
    for cmd in ("plan", "synth", "distill", "serve", "eval", "report", "mahjong"):
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
