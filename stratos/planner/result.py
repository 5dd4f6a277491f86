"""What the planner returns: each evaluated ``Candidate``, the ``PlanResult`` (chosen plan,
front, baselines, scores) and its contract JSON, and the epsilon-front's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stratos.catalog.offering import Offering
from stratos.planner.plan import Plan
from stratos.planner.score import Scale
from stratos.spec import DistillationRequest

#: The epsilon-front's tolerance per objective: two plans closer than this on every axis are
#: one choice to a user (a cent per hundred dollars, a millisecond, a tenth of an accuracy point).
#: Relative for cost and hours (fractions), absolute for latency (ms) and accuracy (fraction).
FRONT_TOLERANCE = {
    "cost_usd": {"relative": 0.01}, "latency_ms": {"absolute": 1.0},
    "accuracy": {"absolute": 0.001}, "train_hours": {"relative": 0.01},
}


def front_tolerance_text() -> str:
    """``FRONT_TOLERANCE`` in words, e.g. '1% cost, 1 ms latency, 0.1 accuracy points, 1% train hours'."""
    t = FRONT_TOLERANCE
    return (f"{t['cost_usd']['relative']:.0%} cost, {t['latency_ms']['absolute']:g} ms latency, "
            f"{t['accuracy']['absolute'] * 100:g} accuracy points, {t['train_hours']['relative']:.0%} train hours")


#: The same as arrays over the minimised objective vector (cost, latency, -accuracy, hours).
FRONT_ABS = np.array([FRONT_TOLERANCE[k].get("absolute", 0.0) for k in ("cost_usd", "latency_ms", "accuracy", "train_hours")])
FRONT_REL = np.array([FRONT_TOLERANCE[k].get("relative", 0.0) for k in ("cost_usd", "latency_ms", "accuracy", "train_hours")])


@dataclass(frozen=True)
class Candidate:
    """One evaluated option and its predicted objectives (``accuracy`` is the mean prediction)."""

    train: Offering
    serve: Offering
    teacher: str
    student: str
    mode: str
    logit_kd: bool
    cost_usd: float
    latency_ms: float
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    train_hours: float
    synthesis_hours: float
    synthesis_usd: float
    accuracy_prior: bool
    training_usd: float
    serving_usd: float
    tokens_seen: float
    storage_usd: float = 0.0
    train_nodes: int = 1
    violations: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def accuracy_basis(self) -> str:
        """``prior`` when no measured run supports the accuracy prediction, else ``measured``."""
        return "prior" if self.accuracy_prior else "measured"

    def objectives(self) -> tuple[float, float, float, float]:
        return (self.cost_usd, self.latency_ms, self.accuracy, self.train_hours)

    def to_json(self, score: float | None = None) -> dict[str, Any]:
        return {
            "train": self.train.label,
            "serve": self.serve.label,
            "teacher": self.teacher,
            "student": self.student,
            "mode": self.mode,
            "logit_kd": self.logit_kd,
            # Full precision (JSON floats round-trip exactly), so a consumer can verify the
            # front's non-dominance; tables round for reading.
            "objectives": {
                "cost_usd": self.cost_usd,
                "latency_ms": self.latency_ms,
                "accuracy": self.accuracy,
                "accuracy_low": self.accuracy_low,
                "accuracy_high": self.accuracy_high,
                "accuracy_basis": self.accuracy_basis,
                "train_hours": self.train_hours,
                "synthesis_hours": self.synthesis_hours,
            },
            "cost": {
                "synthesis_usd": round(self.synthesis_usd, 4),
                "training_usd": round(self.training_usd, 4),
                "serving_usd": round(self.serving_usd, 4),
                "storage_usd": round(self.storage_usd, 4),
            },
            "train_nodes": self.train_nodes,
            "feasible": self.feasible,
            "violations": list(self.violations),
            "score": None if score is None else round(float(score), 4),
        }


@dataclass
class PlanResult:
    """Everything the planner decided and why: ``chosen`` is the contract ``Plan``."""

    request: DistillationRequest
    chosen: Plan
    candidates: list[Candidate]
    pareto: list[Candidate]
    pareto_scores: list[float]
    baselines: dict[str, Plan]
    baseline_scores: dict[str, float]
    chosen_score: float
    chosen_candidate: Candidate
    baseline_candidates: dict[str, Candidate]
    scale: Scale
    rules: list[str]
    candidate_scores: list[float | None] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The architecture's contract JSON (candidates, pareto, chosen, baselines, score for each)."""
        return {
            "request": self.request.model_dump(mode="json"),
            "chosen": {**self.chosen.model_dump(mode="json"), "score": round(self.chosen_score, 4)},
            "baselines": {
                k: {**p.model_dump(mode="json"), "score": round(self.baseline_scores[k], 4)}
                for k, p in self.baselines.items()
            },
            "pareto": [c.to_json(s) for c, s in zip(self.pareto, self.pareto_scores, strict=True)],
            "candidates": [c.to_json(s) for c, s in zip(self.candidates, self.candidate_scores, strict=True)],
            "score": {
                "chosen": round(self.chosen_score, 4),
                **{k: round(v, 4) for k, v in self.baseline_scores.items()},
                "definition": "weighted mean of utilities normalised inside the constraints "
                "(log scale for cost, latency, train hours; linear for accuracy); see stratos/planner/score.py",
                "weights": self.request.weights.model_dump(),
                "scale": {
                    "cost_usd": self.scale.cost, "latency_ms": self.scale.latency,
                    "accuracy": self.scale.accuracy, "train_hours": self.scale.train_hours,
                },
            },
            "front": {
                "definition": "the exact Pareto front of the feasible candidates (minimise cost_usd, latency_ms, "
                "train_hours; maximise accuracy), thinned to an epsilon-front: visited best score first, a point is "
                "dropped when a kept one is nowhere worse by more than the tolerance (see stratos/planner/pareto.py)",
                "tolerance": FRONT_TOLERANCE,
                "exact_size": self.stats.get("pareto_exact", len(self.pareto)),
                "size": len(self.pareto),
            },
            "rules": self.rules,
            "stats": self.stats,
        }
