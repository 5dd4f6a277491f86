"""Stack outputs derived from the planner's result (pure functions, no resources).

Shapes follow ``stratos plan --json`` (snake_case fields of ``Plan``/``CostEstimate``)
so ``pulumi stack output estimatedCost`` and ``stratos plan`` print the same numbers.
"""

from __future__ import annotations

from typing import Any

from stratos.planner.plan import Plan

PARETO_TOP = 5


def plan_summary(plan: Plan) -> dict[str, Any]:
    """The chosen plan: servers, teacher, student, mode and why."""
    return {
        "task": plan.task,
        "train": {**plan.train.model_dump(mode="json"), "label": plan.train.label},
        "serve": {**plan.serve.model_dump(mode="json"), "label": plan.serve.label},
        "teacher": plan.teacher,
        "student": plan.student,
        "mode": plan.mode,
        "logit_kd": plan.logit_kd,
        "objectives": plan.objectives.model_dump(mode="json"),
        "job": plan.job.model_dump(mode="json"),
        "reasons": list(plan.reasons),
    }


def estimated_cost(plan: Plan) -> dict[str, Any]:
    """``estimatedCost``: synthesis, training, serving over the horizon, total, currency, assumptions."""
    return plan.cost.model_dump(mode="json")


def pareto_top(result_json: dict[str, Any], n: int = PARETO_TOP) -> list[dict[str, Any]]:
    """The first ``n`` entries of the Pareto front as ``stratos plan --json`` orders them."""
    return list(result_json.get("pareto") or [])[:n]


def one_line(plan: Plan) -> str:
    """What ``pulumi preview`` logs: the decision and its price in one line."""
    c = plan.cost
    nodes = f"{plan.train_nodes} x " if plan.train_nodes > 1 else ""
    return (
        f"plan: train on {nodes}{plan.train.label}, serve on {plan.serve.label}; teacher {plan.teacher} -> "
        f"student {plan.student} ({plan.mode}{', logit KD' if plan.logit_kd else ''}); "
        f"predicted accuracy {plan.objectives.accuracy:.2f} ({plan.objectives.accuracy_low:.2f}-"
        f"{plan.objectives.accuracy_high:.2f}, {plan.objectives.accuracy_basis}"
        f"{'' if plan.accuracy_calibrated else ', uncalibrated'}), latency {plan.objectives.latency_ms:.0f} ms, "
        f"train {plan.objectives.train_hours:.2f} h; estimated {c.total_usd:.2f} {c.currency} "
        f"(synthesis {c.synthesis_usd:.2f} + training {c.training_usd:.2f} + serving {c.serving_usd:.2f} "
        f"+ storage {c.storage_usd:.2f})"
    )


def accuracy_of(metrics: dict[str, Any] | None) -> float | None:
    """The student's measured exact accuracy on held-out questions, from the job's metrics."""
    m = metrics or {}
    value = m.get("student_accuracy", m.get("accuracy"))
    return float(value) if value is not None else None
