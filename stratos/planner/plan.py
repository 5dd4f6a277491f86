"""``Plan``: the planner's decision, consumed by the Pulumi program and the job.

This is a contract between the planner, the Pulumi program (``infra/``) and the
distillation job: add fields freely, but do not rename or remove these.
A Plan serialises to JSON (``model_dump(mode="json")``) and travels to GPU nodes
as a file, so it holds only data.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stratos.catalog.offering import Offering
from stratos.distill.settings import JobSettings, Mode
from stratos.tasks.loading import TaskRef

__all__ = ["CostEstimate", "JobSettings", "Mode", "Objectives", "Plan"]

#: The job timeout rule (``Plan.job_timeout_s``): this many times the plan's estimate, plus a margin.
JOB_TIMEOUT_FACTOR = 3.0
JOB_MARGIN_LOCAL_S, JOB_MARGIN_NODE_S = 15 * 60, 2 * 3600


class CostEstimate(BaseModel):
    """Estimated USD for every phase (``estimatedCost`` stack output)."""

    model_config = ConfigDict(frozen=True)

    synthesis_usd: float = Field(ge=0)
    training_usd: float = Field(ge=0)
    serving_usd: float = Field(ge=0, description="serving over the request's horizon")
    storage_usd: float = Field(
        0.0, ge=0, description="node disks until destroy (stopped training nodes too), the bucket, cross-cloud egress"
    )
    total_usd: float = Field(ge=0)
    currency: str = "USD"
    assumptions: list[str] = Field(default_factory=list)


class Objectives(BaseModel):
    """What the planner predicts for a candidate (the Pareto axes)."""

    model_config = ConfigDict(frozen=True)

    cost_usd: float = Field(ge=0, description="total cost incl. serving horizon")
    latency_ms: float = Field(ge=0, description="p50 serving latency for the request's prompt/output length")
    accuracy: float = Field(ge=0, le=1, description="predicted student exact accuracy")
    accuracy_low: float = Field(0.0, ge=0, le=1)
    accuracy_high: float = Field(1.0, ge=0, le=1)
    accuracy_basis: Literal["measured", "prior"] = Field(
        "prior", description="measured: fitted with measured runs near this student size on this hardware; "
        "prior: rests on prior rows only (its band is wider)"
    )
    train_hours: float = Field(ge=0, description="wall-clock hours of the job: provisioning, the teacher's work, training")
    synthesis_hours: float | None = Field(
        None, ge=0, description="the teacher's share of train_hours: its probe, the rationales it writes, its zero-shot "
        "evaluation"
    )
    train_tokens: float | None = Field(
        None, ge=0, description="training tokens the job is predicted to see (its time cap x the training rate, or "
        "its data, or its FLOPs cap); the accuracy prediction is made at this count"
    )


class Plan(BaseModel):
    """The chosen option: where to train and serve, which teacher and student, which mode."""

    model_config = ConfigDict(frozen=True)

    task: str = Field(description="the task's name (a dataset task's own name)")
    request_key: str | None = Field(
        None, description="fingerprint of the request planned (its runs never move its own re-plan; see stratos.calibration)"
    )
    task_ref: TaskRef | None = Field(
        None, description="how to load the task (its module, or its dataset); None: the registered task `task`"
    )
    train: Offering
    serve: Offering
    accuracy_calibrated: bool = Field(
        True, description="False: the task has no calibration rows; the accuracy is a wide-band guess (see reasons)"
    )
    teacher: str = Field(description="model zoo id of the teacher")
    student: str = Field(description="model zoo id of the student")
    mode: Mode = Field(description="what the job runs; 'auto': the job's probe of the teacher decides")
    logit_kd: bool = Field(description="teacher and student share a tokenizer, so token-level KD is used")
    objectives: Objectives
    cost: CostEstimate
    job: JobSettings = Field(default_factory=JobSettings)
    reasons: list[str] = Field(default_factory=list, description="why this option, in words")

    @property
    def train_nodes(self) -> int:
        """Identical training instances (torchrun nodes), priced for all of them: ``job.nodes``,
        which the planner sets to the count it chose."""
        return self.job.nodes or 1

    def identity(self) -> dict[str, Any]:
        """What the job computes from: everything but the predictions, prices and reasons
        (``objectives``, ``cost``, ``reasons``, ``accuracy_calibrated``). A run recorded in the
        calibration cache moves the next plan's predictions; that must not make a finished run
        a new one (retrain on the next ``pulumi up``) when nothing it computes changed."""
        return self.model_dump(mode="json", exclude={"objectives", "cost", "reasons", "accuracy_calibrated"})

    @property
    def served_model_name(self) -> str:
        """The model name the endpoint serves and clients send (``stratos-<task>``), on every backend."""
        return f"stratos-{self.task}"

    def job_timeout_s(self, on_node: bool = False) -> int:
        """Seconds the job may run before it counts as hung: 3x the estimated hours plus a margin.

        Generous because estimates are estimates, finite so a hung job fails loudly. The margin
        is 15 min on this machine, 2 h on a cloud node (boot, package install, model download).
        """
        margin_s = JOB_MARGIN_NODE_S if on_node else JOB_MARGIN_LOCAL_S
        return int(JOB_TIMEOUT_FACTOR * self.objectives.train_hours * 3600 + margin_s)
