"""The deployment score: one number in [0, 1] that picks a plan from the Pareto front.

    score = sum_i w_i · u_i / sum_i w_i,   i in {cost, latency, accuracy, train_time}

Each utility is normalised *inside the constraints*: 1 for the best feasible value, 0 at
the constraint's bound (or, when the request sets no bound, at the worst value on the
Pareto front, so dominated options never move the scale).
Cost, latency and training time are compared on a log scale (halving the cost matters
as much at $10 as at $1,000); accuracy is linear above the floor. Because every utility
is monotone in its objective, the best-scoring candidate is always on the Pareto front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COST_EPS_USD = 0.01
HOURS_EPS = 1.0 / 60.0


@dataclass(frozen=True)
class Scale:
    """Best and bound of each axis over the feasible set, as used for normalising."""

    cost: tuple[float, float]
    latency: tuple[float, float]
    accuracy: tuple[float, float]
    train_hours: tuple[float, float]


def make_scale(obj: np.ndarray, budget: float | None, max_latency: float | None,
               min_accuracy: float, max_hours: float | None) -> Scale:
    """Ranges from front objectives ``obj`` (n, 4: cost, latency, accuracy, hours) and the bounds."""
    cost, lat, acc, hrs = obj[:, 0], obj[:, 1], obj[:, 2], obj[:, 3]
    return Scale(
        cost=(float(cost.min()), float(budget if budget else cost.max())),
        latency=(float(lat.min()), float(max_latency if max_latency else lat.max())),
        accuracy=(float(acc.max()), float(min_accuracy if min_accuracy > 0 else acc.min())),
        train_hours=(float(hrs.min()), float(max_hours if max_hours else hrs.max())),
    )


def _log_utility(x: np.ndarray, best: float, bound: float, eps: float) -> np.ndarray:
    lb, lw = np.log(best + eps), np.log(bound + eps)
    if lw - lb <= 1e-12:
        return np.ones_like(x)
    return np.clip((lw - np.log(x + eps)) / (lw - lb), 0.0, 1.0)


def utilities(obj: np.ndarray, scale: Scale) -> np.ndarray:
    """(n, 4) utilities in [0, 1] for cost, latency, accuracy, train time."""
    u = np.empty_like(obj, dtype=float)
    u[:, 0] = _log_utility(obj[:, 0], *scale.cost, COST_EPS_USD)
    u[:, 1] = _log_utility(obj[:, 1], *scale.latency, 1e-6)
    best, floor = scale.accuracy
    u[:, 2] = 1.0 if best - floor <= 1e-12 else np.clip((obj[:, 2] - floor) / (best - floor), 0.0, 1.0)
    u[:, 3] = _log_utility(obj[:, 3], *scale.train_hours, HOURS_EPS)
    return u


def deployment_score(obj: np.ndarray, scale: Scale, weights: tuple[float, float, float, float]) -> np.ndarray:
    """Weighted mean utility per candidate (weights: cost, latency, accuracy, train_time)."""
    w = np.asarray(weights, dtype=float)
    return utilities(obj, scale) @ w / w.sum()
