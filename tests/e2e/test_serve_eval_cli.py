"""`stratos eval --model DIR --task mahjong --json` end to end: a local server is started, used, stopped."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.tiny_model import make_tiny_model_dir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HANDS = [("1112345678999m", "hard"), ("123m456p789s1122z", "easy"), ("1122334455667m", "hard")]


def stratos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stratos.cli", *args], capture_output=True, text=True, timeout=240
    )


def test_eval_a_model_dir_prints_the_json_report(tmp_path):
    model_dir = make_tiny_model_dir(tmp_path / "student")
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"hand": h, "difficulty": d}) + "\n" for h, d in HANDS))
    p = stratos(
        "eval",
        "--model",
        str(model_dir),
        "--task",
        "mahjong",
        "--questions",
        str(questions),
        "--concurrency",
        "3",
        "--max-tokens",
        "8",
        "--threads",
        "1",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert (report["task"], report["model"], report["n"], report["errors"]) == (
        "mahjong",
        "student",
        3,
        0,
    )
    # A random-weight model does not solve Mahjong: the checker, not the file, decides.
    assert report["accuracy"] == 0.0 and set(report["by_class"]) == {"easy", "hard"}
    assert report["endpoint"].startswith("http://127.0.0.1:")
    assert (
        0
        < report["latency"]["p50_ms"]
        <= report["latency"]["p95_ms"]
        <= report["latency"]["p99_ms"]
    )
    assert report["throughput_rps"] > 0


def test_eval_refuses_a_corrupted_artifact(tmp_path):
    model_dir = make_tiny_model_dir(tmp_path / "student")
    (model_dir / "config.json").write_text("{}")
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"hand": HANDS[0][0]}) + "\n")
    p = stratos("eval", "--model", str(model_dir), "--questions", str(questions), "--json")
    assert p.returncode != 0
    assert "checksum mismatch" in p.stderr and "config.json" in p.stderr
