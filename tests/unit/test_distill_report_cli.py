"""`stratos report RUN_DIR` on a report file, and its error for an unfinished run."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stratos.cli import app


def _report():
    return {
        "task": "mahjong", "teacher": "t", "student": {"id": "s", "parameters": 1000, "lora": False}, "mode": "injection",
        "probe": {"accuracy": 0.02, "threshold": 0.5}, "synthesis": {"acceptance_rate": 1.0},
        "data": {"train_examples": 10}, "metrics": {"student_accuracy": 0.91, "teacher_accuracy": 0.0,
                                                    "by_difficulty": {"easy": {"accuracy": 1.0}}},
        "training": {"steps": 5, "stopped": "steps", "train_s": 3.0, "tokens_per_s": 100.0},
        "serving": {"student_p50_s": 0.1, "teacher_p50_s": 1.0}, "times": {"job_s": 9}, "cost": {"job_usd": 0.001},
    }


def test_report_prints_summary_and_json(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(_report()))
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "91.0%" in r.output and "injection" in r.output
    r = CliRunner().invoke(app, ["report", str(tmp_path), "--json"])
    assert json.loads(r.output)["metrics"]["student_accuracy"] == 0.91


def test_report_on_unfinished_run_fails_clearly(tmp_path):
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code != 0
    assert "has not finished" in str(r.exception)


def test_report_names_the_curves_image(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({**_report(), "training": {**_report()["training"], "curves": "curves.png"}}))
    runner = CliRunner(env={"COLUMNS": "240"})
    assert "curves.png missing" in runner.invoke(app, ["report", str(tmp_path)]).output
    (tmp_path / "curves.png").write_bytes(b"\x89PNG")
    out = runner.invoke(app, ["report", str(tmp_path)]).output
    assert f"{tmp_path / 'curves.png'} (train and validation loss" in out
