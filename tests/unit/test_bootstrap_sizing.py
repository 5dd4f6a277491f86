"""Root-disk sizing of cloud nodes from the plan's models and data."""

from __future__ import annotations

from helpers.cloud_plans import aws_plan

from infra.bootstrap.sizing import IMAGE_GB, serving_disk_gb, training_disk_gb
from stratos.planner.plan import JobSettings


def test_training_disk_grows_with_the_teacher_and_the_data() -> None:
    base = aws_plan()  # qwen2.5-7b teacher (15 GB bf16) -> qwen2.5-0.5b student
    small_teacher = base.model_copy(update={"teacher": "qwen2.5-1.5b-instruct"})
    huge_teacher = base.model_copy(update={"teacher": "llama-3.1-70b-instruct"})
    more_data = base.model_copy(update={"job": JobSettings(n_train=5_000_000)})
    assert training_disk_gb(small_teacher) < training_disk_gb(base) < training_disk_gb(huge_teacher)
    assert training_disk_gb(huge_teacher) >= IMAGE_GB + 141  # 70.6 B params in bf16
    assert training_disk_gb(more_data) > training_disk_gb(base)
    assert all(training_disk_gb(p) % 10 == 0 for p in (base, small_teacher, huge_teacher))


def test_api_teacher_needs_no_disk_and_serving_holds_only_the_student() -> None:
    base = aws_plan()
    api = base.model_copy(update={"teacher": "gpt-4o"})
    local_small = base.model_copy(update={"teacher": "smollm2-360m-instruct"})
    assert training_disk_gb(api) <= training_disk_gb(local_small)
    assert serving_disk_gb(base) == serving_disk_gb(base.model_copy(update={"teacher": "llama-3.1-405b-instruct"}))
    assert IMAGE_GB < serving_disk_gb(base) < training_disk_gb(base)
