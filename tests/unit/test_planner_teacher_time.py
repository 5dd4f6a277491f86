"""The teacher's work in a plan: its calls are the job's (probe, rationales, zero-shot evaluation), and a
local plan times them at the seconds per call that earlier runs on this CPU measured."""

from __future__ import annotations

import pytest

from stratos import calibration
from stratos.device import cpu_model
from stratos.distill.settings import JobSettings
from stratos.planner import make_plan, phases, teacher_time
from stratos.spec import parse_request

TEACHER = "smollm2-135m-instruct"


def _point(teacher: str = TEACHER, calls: int = 166, seconds: float = 47.0, cpu: str | None = None,
           threads: int = 2, max_new: int = 64) -> dict:
    return {"task": "mahjong", "student_params": 1e6, "train_tokens": 1e7, "accuracy": 0.9,
            "teacher": teacher, "teacher_calls": calls, "teacher_max_new_tokens": max_new,
            "measured": {"synthesis_hours": seconds / 3600},
            "hardware": {"kind": "cpu", "cpu_model": cpu or cpu_model(), "threads": threads}}


def test_seconds_per_call_is_the_median_of_this_cpus_runs_of_that_teacher(tmp_path):
    path = tmp_path / "cal.jsonl"
    assert teacher_time.seconds_per_call(TEACHER, 2, 64, path=path) is None
    for seconds in (40.0, 90.0):
        calibration.append_point(_point(seconds=seconds, calls=100), path)
    calibration.append_point(_point(teacher="qwen2.5-0.5b-instruct", seconds=900.0, calls=100), path)
    calibration.append_point(_point(cpu="Another CPU", seconds=900.0, calls=100), path)
    calibration.append_point(_point(threads=1, seconds=900.0, calls=100), path)
    calibration.append_point(_point(max_new=16, seconds=900.0, calls=100), path)  # shorter answers (fast profile)
    calibration.append_point({**_point(), "teacher_calls": None}, path)  # recorded before calls were counted
    calibration.append_point({**_point(seconds=130.0, calls=200), "teacher_load_s": 30.0}, path)  # loading left out
    assert teacher_time.seconds_per_call(TEACHER, 2, 64, path=path) == pytest.approx(0.5)
    assert "0.50 s a call" in teacher_time.basis_note(TEACHER, 2, 64, path=path)


def test_the_teacher_answers_its_probe_rationales_and_evaluation():
    job = JobSettings(n_train=1000, n_val=20, n_test=30, probe_size=50, teacher_eval_size=100, rationale_budget=16)
    assert (job.probe_questions, job.teacher_eval_questions) == (20, 30)  # prefixes of the splits
    assert phases.teacher_work(job, "injection", 0.0) == (16.0, 50)
    assert phases.teacher_work(job.model_copy(update={"teacher_eval": False}), "injection", 0.0) == (16.0, 20)


LOCAL = {"target": "local", "teacher": TEACHER}


def _local_plan():
    return make_plan(parse_request(LOCAL)).chosen


def test_a_local_plan_times_its_teacher_at_the_measured_seconds_per_call():
    estimated = _local_plan()
    written, bare = phases.teacher_work(estimated.job, estimated.mode, 0.0)
    calibration.append_point(_point(calls=100, seconds=25.0))  # 0.25 s a call
    # This request's own run never moves its re-plan (an unchanged stack's `pulumi up` changes nothing).
    calibration.append_point({**_point(calls=100, seconds=900.0), "request_key": parse_request(LOCAL).key})
    measured = _local_plan()
    assert measured.objectives.synthesis_hours == pytest.approx((written + bare) * 0.25 / 3600)
    moved = measured.objectives.synthesis_hours - estimated.objectives.synthesis_hours
    assert measured.objectives.train_hours - estimated.objectives.train_hours == pytest.approx(moved)
    assert any("0.25 s a call" in a for a in measured.cost.assumptions)
    assert not any("s a call" in a for a in estimated.cost.assumptions)


def test_the_planned_teacher_hours_reach_the_job_and_sit_beside_the_measured_ones():
    from stratos.distill.config import DistillConfig

    plan = _local_plan()
    planned = DistillConfig.for_plan(plan).planned
    assert planned.synthesis_hours == plan.objectives.synthesis_hours > 0
    report = {
        "teacher": TEACHER, "probe": {"n": 50}, "synthesis": {"teacher_calls": 16},
        "evaluation": {"teacher": {"n": 100}},
        "times": {"data_s": 8.0, "probe_s": 10.0, "synth_s": 18.0, "eval_teacher_s": 19.0, "job_s": 995.0,
                  "teacher_load_s": 3.8},
        "config": {"threads": 2, "teacher_max_new_tokens": 64, "planned": planned.model_dump(mode="json")},
        "student": {"id": "scratch-llama-1m", "parameters": 1e6}, "data": {"train_tokens": 1e7},
        "metrics": {"student_accuracy": 0.9},
    }
    point = calibration.point_of(report)
    assert point["teacher_calls"] == 166
    assert point["measured"]["synthesis_hours"] == pytest.approx(47.0 / 3600)
    assert point["predicted"]["synthesis_hours"] == planned.synthesis_hours
    calibration.append_point(point)
    assert teacher_time.seconds_per_call(TEACHER, 2, 64) == pytest.approx((47.0 - 3.8) / 166)
