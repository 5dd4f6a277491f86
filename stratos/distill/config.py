"""``DistillConfig``: the plan's decisions plus its ``JobSettings``: what one job runs.

Why a config object of its own: the trainer reads only this, the checkpoint stores
it (a checkpoint describes itself), and tests build tiny ones directly. It adds to
``JobSettings`` only what the planner decided (task, teacher, student, mode, logit
KD) and what it priced (``planned``); every knob and default lives in
``stratos.distill.settings``. ``for_plan`` is the one mapping from a ``Plan``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stratos.catalog.offering import Offering
from stratos.distill.settings import LORA_LR, SCRATCH_LR, JobSettings, Mode, ScratchArch
from stratos.exceptions import ConfigError
from stratos.tasks.base import Task
from stratos.tasks.loading import TaskRef


class Planned(BaseModel):
    """What the planner priced and predicted for this run; the report sets its measurements beside it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train: Offering = Field(description="where the job runs (its price prices the run)")
    serve: Offering = Field(description="where the student is served (its price prices answers)")
    accuracy: float = Field(ge=0, le=1, description="predicted student accuracy")
    accuracy_low: float = Field(ge=0, le=1)
    accuracy_high: float = Field(ge=0, le=1)
    train_hours: float = Field(ge=0, description="predicted synthesis + training hours")
    synthesis_hours: float | None = Field(
        None, ge=0, description="predicted hours of the teacher's work (probe, rationales, zero-shot evaluation)"
    )
    teacher_coverage: float | None = Field(
        None, ge=0, le=1, description="the teacher accuracy the planner assumed (zoo prior); None if unknown"
    )
    accuracy_basis: str | None = Field(None, description="measured | prior: what the accuracy prediction rests on")
    latency_ms: float | None = Field(None, ge=0, description="predicted p50 serving latency")
    job_usd: float | None = Field(None, ge=0, description="predicted synthesis + training cost")
    request_key: str | None = Field(None, description="the planned request's fingerprint (Plan.request_key)")
    train_tokens: float | None = Field(None, ge=0, description="predicted training tokens (the accuracy was predicted at these)")


class DistillConfig(JobSettings):
    """Everything one distillation job runs on (see module docstring)."""

    task: str = Field(description="the task's name")
    task_ref: TaskRef | None = Field(None, description="how to load the task; None: the registered task `task`")
    teacher: str = Field(description="teacher spec (see stratos.synth.teachers)")
    student: str = Field(description="zoo id: 'scratch-*' builds from config, else a HF model + LoRA")
    mode: Mode = Field(description="alignment | injection | auto (the probe of the teacher decides)")
    logit_kd: bool = Field(False, description="add token-level KD in alignment mode (needs a shared tokenizer)")
    planned: Planned | None = Field(None, description="the plan's offerings and predictions; None without a plan")

    @model_validator(mode="before")
    @classmethod
    def _scratch_shape_from_zoo(cls, values: Any) -> Any:
        """A from-scratch student with no explicit shape gets the zoo entry's (the shape the planner priced)."""
        if isinstance(values, dict) and str(values.get("student", "")).startswith("scratch") and not values.get("scratch"):
            values = {**values, "scratch": zoo_shape(str(values["student"]))}
        return values

    def load_task(self) -> Task:
        """The job's task: its module imported or its dataset read (the same task the planner saw)."""
        return (self.task_ref or TaskRef(name=self.task)).load()

    @property
    def is_scratch(self) -> bool:
        return self.student.startswith("scratch")

    @property
    def peak_lr(self) -> float:
        return self.lr or (SCRATCH_LR if self.is_scratch else LORA_LR)

    @classmethod
    def for_plan(cls, plan: Any, **overrides: Any) -> DistillConfig:
        """The config a ``Plan`` describes: its decisions, its job settings, its offerings.

        ``overrides`` (benchmarks, tests) replace any field after the plan's values.
        """
        values: dict[str, Any] = {
            **plan.job.model_dump(exclude_none=True),
            "task": plan.task, "task_ref": plan.task_ref, "teacher": plan.teacher, "student": plan.student,
            "mode": plan.mode, "logit_kd": plan.logit_kd, "planned": planned_of(plan),
        }
        return cls(**{**values, **overrides})


def planned_of(plan: Any) -> Planned:
    """The plan's offerings, predictions and assumed teacher accuracy."""
    o = plan.objectives
    return Planned(
        train=plan.train, serve=plan.serve, accuracy=o.accuracy, accuracy_low=o.accuracy_low,
        accuracy_high=o.accuracy_high, train_hours=o.train_hours, synthesis_hours=o.synthesis_hours, teacher_coverage=_coverage(plan.teacher, plan.task),
        accuracy_basis=o.accuracy_basis, latency_ms=o.latency_ms,
        job_usd=plan.cost.synthesis_usd + plan.cost.training_usd, request_key=plan.request_key,
        train_tokens=o.train_tokens,
    )


def _coverage(teacher: str, task: str) -> float | None:
    from stratos.exceptions import UnknownNameError
    from stratos.zoo import get_model

    try:
        return get_model(teacher).task_coverage(task)
    except UnknownNameError:  # a teacher spec outside the zoo (an endpoint URL, "rules")
        return None


def zoo_shape(student: str) -> ScratchArch:
    """The from-scratch shape the model zoo gives ``student``."""
    from stratos.exceptions import UnknownNameError
    from stratos.zoo import get_model

    try:
        m = get_model(student)
    except UnknownNameError as exc:
        raise ConfigError(f"student {student!r}: {exc}; or give its shape as job.scratch") from None
    return ScratchArch(
        hidden_size=m.hidden, num_layers=m.layers, num_heads=m.heads, num_kv_heads=m.kv_heads or m.heads,
        intermediate_size=m.intermediate or 4 * m.hidden, max_positions=m.context,
    )
