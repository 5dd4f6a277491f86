"""The request's constraints, each defined once: which objective it bounds, from which side, how
a violation reads and how to relax it. The search's feasibility mask, each candidate's
violations and the infeasible explanation all read this table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def _up(value: float, digits: int) -> str:
    """``value`` rounded up at ``digits`` decimals: a bound that, set as printed, admits the option."""
    return f"{math.ceil(value * 10**digits) / 10**digits:.{digits}f}"


@dataclass(frozen=True)
class Constraint:
    """``key`` in ``request.constraints`` bounds the objective ``objective`` (a ``Candidate``
    attribute) from above (``upper``) or below; ``digits`` prints a value in a violation;
    ``fix`` says how to relax it given the best value any option reaches."""

    key: str
    objective: str
    upper: bool
    digits: int
    fix: Callable[[float], str]

    def bound(self, constraints: Any) -> float | None:
        """The bound the request sets, or None when it sets none (a zero accuracy floor is none)."""
        value = getattr(constraints, self.key)
        return None if value is None or (not self.upper and not value) else float(value)

    def violated(self, values: np.ndarray, constraints: Any) -> np.ndarray:
        """Which of ``values`` (this objective over candidates) break the bound."""
        bound = self.bound(constraints)
        if bound is None:
            return np.zeros(len(values), dtype=bool)
        return values > bound if self.upper else values < bound

    def violation(self, value: float, constraints: Any) -> str:
        """One violation in words, e.g. ``budget_usd: 12.40 > 10``."""
        return f"{self.key}: {value:.{self.digits}f} {'>' if self.upper else '<'} {self.bound(constraints):g}"

    def shortfall(self, value: float, constraints: Any) -> float:
        """How far ``value`` is past the bound, relative to it (0 when it meets it)."""
        bound = self.bound(constraints)
        if bound is None:
            return 0.0
        return max(0.0, (value - bound) / bound) if self.upper else max(0.0, (bound - value) / max(bound, 1e-9))


CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint("budget_usd", "cost_usd", True, 2,
               lambda b: f"raise constraints.budget_usd to at least {_up(b, 2)}, or shorten constraints.serving_hours"),
    Constraint("max_latency_ms", "latency_ms", True, 1,
               lambda b: f"raise constraints.max_latency_ms to at least {_up(b, 0)}, or allow faster GPUs"),
    Constraint("min_accuracy", "accuracy", False, 3,
               lambda b: f"lower constraints.min_accuracy to at most {math.floor(b * 1000) / 1000:g}, "
               "or allow larger students"),
    Constraint("max_train_hours", "train_hours", True, 2,
               lambda b: f"raise constraints.max_train_hours to at least {_up(b, 2)}"),
)
