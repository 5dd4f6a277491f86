"""``stratos mahjong solve`` and ``stratos synth mahjong``, through the real CLI app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stratos.cli import app
from stratos.exceptions import StratosError
from stratos.synth.dataset import read_jsonl
from stratos.tasks.mahjong import MahjongTask, winning_tiles

runner = CliRunner()


def _exit_code(res) -> int:
    """The code `stratos` would exit with: main() maps a StratosError to its exit_code."""
    return res.exception.exit_code if isinstance(res.exception, StratosError) else res.exit_code


def test_solve_prints_waits_as_text_and_json():
    res = runner.invoke(app, ["mahjong", "solve", "1112345678999m", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {
        "hand": "1112345678999m",
        "waits": [f"{n}m" for n in range(1, 10)],
        "ready": True,
        "rules": "standard",
    }
    res = runner.invoke(app, ["mahjong", "solve", "1z 2z 3z 4z 123m 456p 789s"])
    assert res.exit_code == 0 and "not ready" in res.stdout
    res = runner.invoke(
        app,
        ["mahjong", "solve", "11335577m1199p2s", "--rules", "seven-pairs", "--rationale", "short"],
    )
    assert res.exit_code == 0 and res.stdout.strip().endswith("Answer: 2s")


def test_solve_rejects_a_malformed_hand_with_exit_code_2():
    res = runner.invoke(app, ["mahjong", "solve", "123m"])
    assert _exit_code(res) == 2
    assert "3 tiles" in str(res.exception)


def test_synth_writes_the_documented_schema_deterministically(tmp_path):
    out = tmp_path / "mj.jsonl"
    args = [
        "synth",
        "mahjong",
        "--mode",
        "reverse",
        "--n",
        "200",
        "--seed",
        "3",
        "--out",
        str(out),
        "--json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n"] == 200 and sum(summary["split"].values()) == 200
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 200
    task = MahjongTask()
    for r in rows:
        assert {
            "id",
            "hand",
            "waits",
            "difficulty",
            "source",
            "rationale",
            "question",
            "answer",
            "split",
        } <= set(r)
        assert r["waits"] == winning_tiles(r["hand"]) and r["source"] == "reverse"
        assert task.check_rationale(r["hand"], r["rationale"]) == []
    first = out.read_text()
    assert runner.invoke(app, args).exit_code == 0 and out.read_text() == first
    assert [e.question for e in read_jsonl(out)] == [
        r["hand"] for r in rows
    ]  # the engine's reader agrees


def test_synth_difficulty_controls_and_forward_mode(tmp_path):
    out = tmp_path / "chin.jsonl"
    res = runner.invoke(
        app,
        [
            "synth",
            "mahjong",
            "--n",
            "30",
            "--chinitsu",
            "--min-waits",
            "3",
            "--rationale",
            "none",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(
        r["difficulty"] == "chinitsu" and len(r["waits"]) >= 3 and r["rationale"] is None
        for r in rows
    )
    res = runner.invoke(
        app,
        ["synth", "mahjong", "--mode", "forward", "--n", "50", "--no-honours", "--out", str(out)],
    )
    assert res.exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all("z" not in r["hand"] and r["source"] == "forward" for r in rows)


def test_synth_reports_bad_options(tmp_path):
    out = str(tmp_path / "x.jsonl")
    res = runner.invoke(app, ["synth", "mahjong", "--n", "5", "-c", "colour=red", "--out", out])
    assert _exit_code(res) == 2 and "colour" in str(res.exception)
    res = runner.invoke(app, ["synth", "mahjong", "--mode", "sideways", "--out", out])
    assert _exit_code(res) == 2
    res = runner.invoke(app, ["synth", "chess", "--out", out])
    assert _exit_code(res) == 2 and "mahjong" in str(res.exception)
