"""The calibration cache: the job's measured point (hardware, student, tokens, accuracy, time,
predictions beside it), appended after each run and read by the next plan."""

from __future__ import annotations

import json

import pytest

from stratos import calibration


def _report() -> dict:
    return {
        "task": "mahjong", "teacher": "rules", "mode": "injection",
        "student": {"id": "scratch-llama-3m", "parameters": 2_980_000, "lora": False},
        "data": {"train_examples": 1000, "train_tokens": 2_500_000},
        "metrics": {"student_accuracy": 0.42}, "probe": {"accuracy": 1.0},
        "synthesis": {"teacher_asked": 16, "teacher_accepted": 16, "teacher_acceptance_rate": 1.0},
        "training": {"tokens_per_s": 12_000.0}, "times": {"job_s": 1800.0},
        "serving": {"student_latency": {"p50_ms": 90.0}}, "cost": {"job_usd": 0.25},
        "config": {"threads": 2, "planned": {"accuracy": 0.887, "accuracy_low": 0.82, "accuracy_high": 0.93,
                                             "accuracy_basis": "measured", "train_hours": 0.4, "latency_ms": 80.0,
                                             "job_usd": 0.2, "train": {"instance_type": "local"},
                                             "train_tokens": 3_000_000}},
    }


def test_the_run_point_holds_hardware_student_tokens_accuracy_time_and_predictions(tmp_path):
    path = tmp_path / "cal.jsonl"
    assert calibration.record_run(_report(), path) == path
    calibration.record_run(_report(), path)
    lines = path.read_text().splitlines()
    assert len(lines) == 2  # appended, never rewritten
    p = json.loads(lines[0])
    assert p["hardware"]["kind"] == "cpu" and p["hardware"]["cpu_model"] and p["hardware"]["tokens_per_s"] == 12_000
    assert (p["student"], p["student_params"], p["train_tokens"], p["accuracy"]) == (
        "scratch-llama-3m", 2_980_000, 2_500_000, 0.42)
    assert p["measured"] == {"accuracy": 0.42, "train_hours": 0.5, "latency_ms": 90.0, "job_usd": 0.25,
                             "train_tokens": 2_500_000, "latency_shape": None, "synthesis_hours": None}
    # The plan's 80 ms is for the endpoint's request shape; a run that did not record the shape it
    # timed gets no latency prediction beside its measurement (calibration.latency_at_run).
    assert p["predicted"]["latency_ms"] is None
    assert p["predicted"]["accuracy"] == 0.887 and p["predicted"]["accuracy_basis"] == "measured"
    assert p["predicted"]["train_tokens"] == 3_000_000  # the plan's rate x cap, beside the tokens trained
    assert p["teacher_share"] == pytest.approx(0.016) and p["teacher_acceptance"] == 1.0
    rows = calibration.accuracy_rows("mahjong", path)
    assert len(rows) == 2 and rows[0]["measured"] == "1" and rows[0]["hardware"] == "cpu"
    smoke = _report()
    smoke["data"]["train_tokens"] = 2925  # the fast profile's 12 steps: kept in the cache, never fitted
    calibration.record_run(smoke, path)
    assert len(calibration.read_points("mahjong", path)) == 3 and len(calibration.accuracy_rows("mahjong", path)) == 2


def test_default_path_and_an_unwritable_cache_warns_without_failing(tmp_path, monkeypatch):
    monkeypatch.delenv("STRATOS_CALIBRATION", raising=False)
    monkeypatch.setenv("STRATOS_CACHE", str(tmp_path))
    assert calibration.cache_path() == tmp_path / "calibration.jsonl"
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.warns(UserWarning, match="STRATOS_CACHE"):
        assert calibration.record_run(_report(), blocked / "cal.jsonl") is None
