"""The plan is the job's only input: every field of a real Plan reaches the job's config.

Plans come from the real planner on the fixture catalog; each test changes one plan
field (or the request key behind it) and checks the value the job will run with.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from stratos.distill.config import DistillConfig
from stratos.distill.job import decide_mode
from stratos.distill.report import cost_section
from stratos.distill.settings import (
    FAST_PROFILE,
    JobOverrides,
    JobSettings,
    ScratchArch,
    resolve_job,
)
from stratos.exceptions import ConfigError
from stratos.planner import make_plan
from stratos.planner.plan import Plan
from stratos.spec import DistillationRequest, parse_request

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "catalog")


def plan(**req: Any) -> Plan:
    return make_plan(parse_request({"target": "aws", **req}), FIXTURE).chosen


@pytest.fixture(scope="module")
def real_plan() -> Plan:
    return plan()


def changed(name: str, value: Any, field: Any) -> Any:
    """A valid value of ``field`` different from ``value`` (for any JobSettings knob)."""
    ann = field.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    literal = [a for a in (ann, *args) if typing.get_origin(a) is Literal]
    if literal:
        return next(v for v in typing.get_args(literal[0]) if v != value)
    if value is None and ScratchArch in args:
        return ScratchArch(hidden_size=48, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=96)
    if name == "device":
        return "cpu" if value != "cpu" else "auto"
    if isinstance(value, bool) or bool in args:
        return not value
    if isinstance(value, int):
        return value // 2 if name == "micro_blocks" else value * 2 or 1
    if isinstance(value, float) or float in args:
        return (value or 0.004) * 0.5
    raise AssertionError(f"no changed value for {name}={value!r}; extend this helper")


def test_the_config_is_the_plan(real_plan):
    cfg = DistillConfig.for_plan(real_plan)
    assert (cfg.task, cfg.teacher, cfg.student, cfg.mode, cfg.logit_kd) == (
        real_plan.task, real_plan.teacher, real_plan.student, real_plan.mode, real_plan.logit_kd
    )
    for name in JobSettings.model_fields:
        if name != "scratch":  # the zoo fills a from-scratch student's shape
            assert getattr(cfg, name) == getattr(real_plan.job, name), name
    assert cfg.planned.train == real_plan.train and cfg.planned.serve == real_plan.serve
    assert cfg.planned.accuracy == real_plan.objectives.accuracy


@pytest.mark.parametrize("name", sorted(JobSettings.model_fields))
def test_each_job_setting_of_the_plan_reaches_the_config(real_plan, name):
    field = JobSettings.model_fields[name]
    new = changed(name, getattr(real_plan.job, name), field)
    job = real_plan.job.model_copy(update={name: new})
    JobSettings.model_validate(job.model_dump())  # still a valid plan
    cfg = DistillConfig.for_plan(real_plan.model_copy(update={"job": job}))
    assert getattr(cfg, name) == new


@pytest.mark.parametrize(
    ("field", "value", "read"),
    [
        ("mode", "alignment", lambda c: c.mode),
        ("mode", "injection", lambda c: c.mode),
        ("mode", "auto", lambda c: c.mode),
        ("logit_kd", True, lambda c: c.logit_kd),
        ("teacher", "qwen2.5-7b-instruct", lambda c: c.teacher),
        ("task", "factor", lambda c: c.task),
    ],
)
def test_each_decision_of_the_plan_reaches_the_config(real_plan, field, value, read):
    assert read(DistillConfig.for_plan(real_plan.model_copy(update={field: value}))) == value


def test_the_student_and_its_shape_reach_the_config(real_plan):
    small = DistillConfig.for_plan(real_plan.model_copy(update={"student": "scratch-llama-3m"}))
    big = DistillConfig.for_plan(real_plan.model_copy(update={"student": "scratch-llama-10m"}))
    assert small.student == "scratch-llama-3m" and big.student == "scratch-llama-10m"
    assert big.scratch.hidden_size > small.scratch.hidden_size  # the zoo's shapes, not a default
    lora = DistillConfig.for_plan(real_plan.model_copy(update={"student": "smollm2-135m-instruct"}))
    assert not lora.is_scratch and lora.peak_lr == 2e-4 and small.peak_lr == 1e-3


def test_the_report_prices_the_run_from_the_plans_offerings(real_plan):
    train = real_plan.train.model_copy(update={"price_per_hour": 12.5})
    serve = real_plan.serve.model_copy(update={"price_per_hour": 0.5})
    cfg = DistillConfig.for_plan(real_plan.model_copy(update={"train": train, "serve": serve}))
    cost = cost_section(cfg, job_s=1800)
    assert cost.job_usd == pytest.approx(6.25) and cost.train_usd_per_hour == 12.5
    assert cost.train_offering == train.label and cost.serve_usd_per_hour == 0.5
    bare = DistillConfig(task="mahjong", teacher="rules", student="scratch-llama-3m", mode="injection")
    assert cost_section(bare, 1800).job_usd is None and "unpriced" in cost_section(bare, 1800).source


def test_the_job_runs_the_plans_mode_and_probes_only_under_auto():
    probe = {"mode": "alignment", "accuracy": 0.9}
    assert decide_mode("injection", probe) == "injection"
    assert decide_mode("alignment", {"mode": "injection", "accuracy": 0.1}) == "alignment"
    assert decide_mode("auto", probe) == "alignment"
    assert decide_mode("auto", {"mode": "injection", "accuracy": 0.1}) == "injection"


def test_request_mode_auto_plans_auto_priced_as_the_expected_mode():
    p = plan(mode="auto", student="scratch-llama-3m", teacher="qwen2.5-7b-instruct")
    assert p.mode == "auto" and any("probe of the teacher decides" in r for r in p.reasons)
    assert DistillConfig.for_plan(p).mode == "auto"
    assert plan(mode="injection", student="scratch-llama-3m").mode == "injection"


def test_request_job_keys_reach_the_plan_over_the_fast_profile():
    p = plan(job={"profile": "fast", "n_train": 777, "lr": 0.005, "patience": 1, "seed": 9})
    cfg = DistillConfig.for_plan(p)
    assert (cfg.n_train, cfg.peak_lr, cfg.patience, cfg.seed, cfg.profile) == (777, 0.005, 1, 9, "fast")
    assert cfg.max_steps == FAST_PROFILE.max_steps and cfg.n_val == FAST_PROFILE.n_val  # the profile's own
    default = plan()
    # No keys: the defaults, plus the node count the planner priced (job.nodes unset: its choice).
    assert default.job == JobSettings(nodes=1) and default.train_nodes == 1


def test_job_overrides_are_every_setting_optional_with_the_same_checks():
    assert set(JobOverrides.model_fields) == set(JobSettings.model_fields)
    assert all(f.default is None for f in JobOverrides.model_fields.values())
    assert resolve_job(JobOverrides()) == JobSettings()
    assert "default 50000 (profile fast: 1000)" in JobOverrides.model_fields["n_train"].description
    with pytest.raises(ConfigError, match=r"job\.n_train"):
        parse_request({"job": {"n_train": 0}})
    with pytest.raises(ConfigError, match=r"job\.learning_rate"):
        parse_request({"job": {"learning_rate": 0.1}})
    with pytest.raises(ValueError, match="multiple of micro_blocks"):
        JobSettings(batch_blocks=6, micro_blocks=4)


def test_one_fast_profile_and_no_second_copy_of_a_default():
    fast = resolve_job(JobOverrides(profile="fast"))
    for name, value in FAST_PROFILE.model_dump(exclude_none=True).items():
        got = getattr(fast, name)
        assert (got.model_dump() if isinstance(got, BaseModel) else got) == value, name
    # the request, the plan and the job's config define no job knob of their own
    assert not set(DistillationRequest.model_fields) & (set(JobSettings.model_fields) - {"mode"})
    own = set(DistillConfig.model_fields) - set(JobSettings.model_fields)
    assert own == {"task", "task_ref", "teacher", "student", "mode", "logit_kd", "planned"}


def test_a_plan_whose_predictions_alone_moved_is_the_same_run() -> None:
    """A finished run recorded in the calibration cache moves the next plan's predictions; the run id
    (folder / bucket prefix) must not change with them, or every `pulumi up` would retrain."""
    from infra.backends.base import job_id
    from stratos.planner import make_plan
    from stratos.spec import parse_request

    result = make_plan(parse_request({"target": "local", "job": {"profile": "fast"}}))
    plan = result.chosen
    moved = plan.model_copy(update={
        "objectives": plan.objectives.model_copy(update={"accuracy": plan.objectives.accuracy / 2}),
        "reasons": ["other words"],
    })
    settings = type("S", (), {"request": result.request})()
    assert job_id(moved, settings) == job_id(plan, settings)
    other = plan.model_copy(update={"job": plan.job.model_copy(update={"seed": plan.job.seed + 1})})
    assert job_id(other, settings) != job_id(plan, settings)
