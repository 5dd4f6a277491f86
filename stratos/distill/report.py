"""The run report: ``report.json`` (``RunReport``: decisions, scores, sizes, times, cost) and ``curves.png``.

Scores and latencies use the models of ``stratos.metrics``, the ones ``stratos eval``
prints, so a run's report and a later evaluation of its endpoint read the same way.
``metrics`` holds the flat headline figures (the stack's ``accuracy`` output reads
``student_accuracy``); ``evaluation`` holds the full scores of student and teacher.
The parts that come from the plan (``plan``, ``cost``, serving prices) are built here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stratos.distill.config import DistillConfig
from stratos.io import atomic_write_json
from stratos.metrics import Evaluation, Latency


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StudentInfo(_Model):
    id: str
    parameters: int
    lora: bool


class PlanCheck(_Model):
    """What the planner decided and predicted, beside what the run measured."""

    mode: str = Field(description="the plan's mode (auto: the probe decided)")
    predicted_accuracy: float | None = None
    predicted_accuracy_band: list[float] | None = None
    predicted_train_hours: float | None = None
    assumed_teacher_accuracy: float | None = Field(None, description="the planner's prior; compare probe.accuracy")


class DataSizes(_Model):
    train_examples: int
    val: int
    test: int
    train_tokens: int
    test_classes: dict[str, int] = Field(default_factory=dict, description="test questions per class")


class Evaluations(_Model):
    student: Evaluation
    teacher: Evaluation | None = None


class Training(_Model):
    steps: int
    planned_steps: int
    stopped: str
    best_val: float | None
    train_s: float
    tokens_per_s: float
    fit_tokens_per_s: float | None = Field(
        None, description="training tokens/s over the first steps (10-60), the host check the step budget is fitted on"
    )
    flops: float = Field(0.0, description="training compute spent, 6 x parameters x tokens")
    max_flops: float | None = Field(None, description="the compute cap it trained to (max_train_flops)")
    logit_kd: bool
    curves: str = "curves.png"


class Serving(_Model):
    """Latency one question at a time, and what 1000 answers cost on the plan's serving offering."""

    student_latency: Latency
    teacher_latency: Latency | None = None
    student_usd_per_1k_questions: float | None = None
    teacher_usd_per_1k_questions: float | None = None


class Cost(_Model):
    job_usd: float | None
    train_offering: str | None
    train_usd_per_hour: float | None
    serve_offering: str | None
    serve_usd_per_hour: float | None
    source: str


class RunReport(_Model):
    task: str
    teacher: str
    student: StudentInfo
    mode: str = Field(description="the mode the job ran")
    plan: PlanCheck
    probe: dict[str, Any]
    synthesis: dict[str, Any]
    data: DataSizes
    metrics: dict[str, float | None] = Field(description="headline figures: accuracies and the task's highlights")
    evaluation: Evaluations
    training: Training
    serving: Serving
    times: dict[str, float]
    cost: Cost
    hardware: str
    config: dict[str, Any]


def headline(cfg: DistillConfig, ev_s: Evaluation, ev_t: Evaluation | None) -> dict[str, float | None]:
    """The flat figures stack outputs and summaries read: accuracies and the task's highlights."""
    return {
        "student_accuracy": ev_s.accuracy,
        "student_mix_accuracy": ev_s.mix_accuracy,
        "predicted_accuracy": cfg.planned.accuracy if cfg.planned else None,
        "teacher_accuracy": ev_t.accuracy if ev_t else None,
        "teacher_n": ev_t.n if ev_t else None,
        **ev_s.highlights,
    }


def plan_check(cfg: DistillConfig) -> PlanCheck:
    """What the planner decided and predicted, to read beside what the run measured."""
    p = cfg.planned
    if p is None:
        return PlanCheck(mode=cfg.mode)
    return PlanCheck(
        mode=cfg.mode, predicted_accuracy=p.accuracy, predicted_accuracy_band=[p.accuracy_low, p.accuracy_high],
        predicted_train_hours=p.train_hours, assumed_teacher_accuracy=p.teacher_coverage,
    )


def serving(cfg: DistillConfig, ev_s: Evaluation, ev_t: Evaluation | None) -> Serving:
    """Latencies, and the price of 1000 answers at p50 on the plan's serving offering."""
    serve = cfg.planned.serve if cfg.planned else None

    def per_1k(lat: Latency | None) -> float | None:
        if serve is None or lat is None or lat.p50_ms is None:
            return None
        return serve.cost(hours=lat.p50_ms / 3600)  # 1000 answers x p50_ms / 1000 ms per s = p50_ms seconds

    t_lat = ev_t.latency if ev_t else None
    return Serving(student_latency=ev_s.latency or Latency(n=0), teacher_latency=t_lat,
                   student_usd_per_1k_questions=per_1k(ev_s.latency), teacher_usd_per_1k_questions=per_1k(t_lat))


def cost_section(cfg: DistillConfig, job_s: float) -> Cost:
    """What the run cost at the plan's prices: the train offering for the job, the serve offering for answers."""
    if cfg.planned is None:
        return Cost(job_usd=None, train_offering=None, train_usd_per_hour=None, serve_offering=None,
                    serve_usd_per_hour=None, source="no plan (a DistillConfig file names no offering): unpriced")
    train, serve = cfg.planned.train, cfg.planned.serve
    return Cost(job_usd=train.cost(hours=job_s / 3600), train_offering=train.label,
                train_usd_per_hour=train.price_per_hour, serve_offering=serve.label,
                serve_usd_per_hour=serve.price_per_hour,
                source="the plan's offerings (plan.train prices the job, plan.serve the answers)")


def write_report(run_dir: str | Path, report: RunReport) -> Path:
    path = Path(run_dir) / "report.json"
    atomic_write_json(path, report.model_dump(mode="json"))
    return path


def read_report(path: str | Path) -> RunReport:
    import json

    return RunReport.model_validate(json.loads(Path(path).read_text()))


def plot_curves(history: list[dict[str, Any]], path: str | Path) -> Path:
    """Training loss, validation loss and validation accuracy against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["loss"] for h in history], label="train loss", alpha=0.7)
    ev = [h for h in history if "val_loss" in h]
    ax.plot([h["step"] for h in ev], [h["val_loss"] for h in ev], "o-", label="val loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_yscale("log")
    acc = [h for h in ev if "val_accuracy" in h]
    if acc:
        ax2 = ax.twinx()
        ax2.plot([h["step"] for h in acc], [h["val_accuracy"] for h in acc], "s--", color="tab:green", label="val accuracy")
        ax2.set_ylabel("val exact accuracy")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.set_title("Stratos distillation")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
