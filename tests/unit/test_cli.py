"""The CLI assembles every subcommand and maps Stratos errors to exit codes."""

import subprocess
import sys


def test_help_lists_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "stratos.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("plan", "synth", "distill", "serve", "eval", "report", "mahjong"):
        assert cmd in out
