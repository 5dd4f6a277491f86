"""The right reason for every request that cannot be planned: one line naming the key, the value
and the fix, per constraint type, and printed unwrapped when stderr is not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.planning import module_cache  # noqa: F401 - autouse: this module's own cache

from stratos.exceptions import ConfigError, InfeasibleError, UnknownNameError
from stratos.planner import make_plan
from stratos.spec import parse_request

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "catalog")


def first_line(exc_type, **req) -> str:
    with pytest.raises(exc_type) as e:
        make_plan(parse_request({"target": "aws", **req}), FIXTURE)
    assert e.value.exit_code == 2
    return str(e.value).splitlines()[0]


@pytest.mark.parametrize(
    ("constraints", "named", "fix"),
    [
        ({"budget_usd": 0.01}, "constraints.budget_usd=0.01", "raise constraints.budget_usd to at least"),
        ({"max_latency_ms": 0.5}, "constraints.max_latency_ms=0.5", "raise constraints.max_latency_ms to at least"),
        ({"min_accuracy": 0.9999}, "constraints.min_accuracy=0.9999", "lower constraints.min_accuracy to at most"),
        ({"max_train_hours": 0.01}, "constraints.max_train_hours=0.01", "raise constraints.max_train_hours to at least"),
    ],
    ids=["budget", "latency", "accuracy", "train-time"],
)
def test_each_binding_constraint_is_named_with_its_value_best_reach_and_fix(constraints, named, fix):
    line = first_line(InfeasibleError, constraints=constraints)
    assert named in line and "best any option reaches" in line and fix in line
    # exactly the one constraint that binds
    others = {"budget_usd", "max_latency_ms", "min_accuracy", "max_train_hours"} - set(constraints)
    assert not any(f"constraints.{k}=" in line for k in others)


def test_the_fix_printed_admits_an_option():
    line = first_line(InfeasibleError, constraints={"budget_usd": 0.01})
    bound = float(line.split("at least ")[1].split(",")[0])
    assert make_plan(parse_request({"target": "aws", "constraints": {"budget_usd": bound}}), FIXTURE).chosen


def test_unknown_gpu_names_the_key_and_the_valid_ones():
    line = first_line(UnknownNameError, gpus=["TPUv9"])
    assert line.startswith("gpus: unknown GPU 'TPUv9'") and "L4" in line and "Fix:" in line


def test_gpu_not_offered_in_the_region_says_so():
    # the fixture has H100 in us-west-2 only
    line = first_line(UnknownNameError, gpus=["H100"], regions=["us-east-1"])
    assert "'H100' is not offered in us-east-1" in line and "offered in: us-west-2" in line
    assert "unknown" not in line


def test_unknown_region_and_models_name_their_key():
    assert first_line(UnknownNameError, regions=["mars-1"]).startswith("regions: unknown region 'mars-1'")
    assert first_line(UnknownNameError, teacher="not-a-model").startswith("teacher: unknown teacher")
    assert first_line(UnknownNameError, student="not-a-model").startswith("student: unknown student")


def test_teacher_smaller_than_student_reports_the_size_ratio_rule():
    line = first_line(InfeasibleError, teacher="qwen2.5-0.5b-instruct", student="qwen2.5-7b-instruct")
    assert "size-ratio rule" in line and "at least 2x" in line and "'qwen2.5-0.5b-instruct'" in line
    assert "memory" not in line and "larger `teacher`" in line
    same = first_line(InfeasibleError, teacher="qwen2.5-7b-instruct", student="qwen2.5-7b-instruct")
    assert "cannot teach itself" in same


def test_validation_error_is_one_line_with_key_value_and_fix():
    with pytest.raises(ConfigError) as e:
        parse_request({"constraints": {"budget_usd": -5, "max_latency_ms": "fast"}})
    msg = str(e.value)
    assert "\n" not in msg
    assert "key 'constraints.budget_usd' = -5" in msg and "key 'constraints.max_latency_ms' = 'fast'" in msg
    assert "Fix:" in msg


def test_cli_error_is_one_unwrapped_line_when_stderr_is_a_pipe(tmp_path):
    req = tmp_path / "req.yaml"
    req.write_text("target: aws\ngpus: [TPUv9]\n")
    env = {**os.environ, "STRATOS_CATALOG_DIR": FIXTURE, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "stratos.cli", "plan", "--config", str(req)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) > 80 and "gpus: unknown GPU 'TPUv9'" in lines[0], out.stderr
