"""``Plan``: the planner's decision, consumed by the Pulumi program and the job.

This is a contract between the planner, the Pulumi program (``infra/``) and the
distillation job: add fields freely, but do not rename or remove these.
A Plan serialises to JSON (``model_dump(mode="json")``) and travels to GPU nodes
as a file, so it holds only data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stratos.catalog.offering import Offering

Mode = Literal["alignment", "injection"]


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
    train_hours: float = Field(ge=0)


class JobSettings(BaseModel):
    """How the distillation job runs: data sizes and time budget, resolved by the planner."""

    model_config = ConfigDict(frozen=True)

    seed: int = 0
    n_train: int = Field(50000, gt=0, description="training examples to synthesise")
    n_val: int = Field(200, gt=0)
    n_test: int = Field(500, gt=0, description="held-out questions for the final evaluation")
    max_train_minutes: float = Field(16.0, gt=0, description="wall-clock cap on training")
    probe_size: int = Field(50, gt=0, description="questions used to probe the teacher")
    rationale_budget: int = Field(
        16, ge=0, description="injection: questions whose rationale the teacher writes (the rest use the task's own)"
    )
    probe_threshold: float = Field(0.5, ge=0, le=1, description="teacher accuracy above which alignment is used")
    profile: Literal["default", "fast"] = Field("default", description="'fast' shrinks everything for tests")


class Plan(BaseModel):
    """The chosen option: where to train and serve, which teacher and student, which mode."""

    model_config = ConfigDict(frozen=True)

    task: str
    train: Offering
    serve: Offering
    teacher: str = Field(description="model zoo id of the teacher")
    student: str = Field(description="model zoo id of the student")
    mode: Mode
    logit_kd: bool = Field(description="teacher and student share a tokenizer, so token-level KD is used")
    objectives: Objectives
    cost: CostEstimate
    job: JobSettings = Field(default_factory=JobSettings)
    train_nodes: int = Field(
        1, ge=1, description="identical training instances (torchrun nodes); training is priced for all of them"
    )
    reasons: list[str] = Field(default_factory=list, description="why this option, in words")
