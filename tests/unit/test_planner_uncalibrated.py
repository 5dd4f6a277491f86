"""The planner on a task with no calibration rows (#22): it says so, widens the band, and treats
min_accuracy as a warning instead of a silent prediction."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers.planning import write_local_profile

from stratos.exceptions import InfeasibleError
from stratos.planner import make_plan
from stratos.planner.accuracy import model_for, uncalibrated_reason
from stratos.spec import parse_request

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "catalog")


@pytest.fixture(autouse=True)
def machine(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATOS_CACHE", str(tmp_path / "cache"))
    write_local_profile()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sums.jsonl").write_text("".join(json.dumps({"question": f"{i}+1?", "answer": i + 1}) + "\n" for i in range(50)))


DATASET = {"dataset": "sums.jsonl", "answer_field": "answer", "checker": "numeric"}


def test_mahjong_is_calibrated_and_a_dataset_task_is_not():
    assert uncalibrated_reason("mahjong") is None
    assert "no calibration rows for task 'sums'" in uncalibrated_reason("sums")
    assert model_for("sums").sigma >= 1.5 > model_for("mahjong").sigma


def test_the_plan_says_uncalibrated_with_a_wide_band():
    p = make_plan(parse_request({"task": DATASET}), FIXTURE).chosen
    m = make_plan(parse_request({"task": "mahjong", "student": "scratch-llama-3m"}), FIXTURE).chosen
    assert not p.accuracy_calibrated and m.accuracy_calibrated and m.objectives.accuracy_basis == "measured"
    assert any(r.startswith("accuracy uncalibrated") for r in p.reasons)
    assert p.objectives.accuracy_high - p.objectives.accuracy_low > 0.3
    assert logit_width(p.objectives) > 1.5 * logit_width(m.objectives)  # a band near 50% looks wide in percent


def logit_width(o) -> float:
    """An 80% band's width in logit units, where the model's sigma lives (the same in percent near 0.5 or 0.97)."""
    return math.log(o.accuracy_high / (1 - o.accuracy_high)) - math.log(o.accuracy_low / (1 - o.accuracy_low))


def test_min_accuracy_on_an_uncalibrated_task_is_a_warning():
    with pytest.raises(InfeasibleError, match="min_accuracy"):
        make_plan(parse_request({"task": "mahjong", "constraints": {"min_accuracy": 0.999}}), FIXTURE)
    p = make_plan(parse_request({"task": DATASET, "constraints": {"min_accuracy": 0.999}}), FIXTURE).chosen
    assert any(r.startswith("warning: min_accuracy 0.999 not enforced") for r in p.reasons)


def test_the_preview_line_marks_the_accuracy_uncalibrated():
    from infra.outputs import one_line

    assert ", uncalibrated), latency" in one_line(make_plan(parse_request({"task": DATASET}), FIXTURE).chosen)
