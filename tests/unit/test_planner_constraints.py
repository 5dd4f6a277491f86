"""One definition per constraint: the feasibility mask, each candidate's violations and the
infeasible explanation all come from ``stratos.planner.constraints.CONSTRAINTS``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stratos.catalog.offering import Offering
from stratos.planner.candidates import COLUMNS, Table
from stratos.planner.constraints import CONSTRAINTS
from stratos.planner.infeasible import unsatisfiable
from stratos.planner.result import Candidate
from stratos.spec import Constraints

OFF = Offering(cloud="aws", region="r", instance_type="x", accelerator="L4", accelerator_count=1,
               vcpus=8, memory_gb=64, price_per_hour=1.0)


def table(rows: list[dict[str, float]], c: Constraints) -> Table:
    """A candidate table over ``rows`` (objective values; every other column 0)."""
    col = {k: np.array([float(r.get(k, 0.0)) for r in rows]) for k in COLUMNS}
    return Table(col, [("t", "s", "injection", False)], [OFF], [OFF], c)


def test_every_constraint_names_a_request_key_and_a_candidate_objective():
    fields = {f.name for f in dataclasses.fields(Candidate)}
    for k in CONSTRAINTS:
        assert k.key in Constraints.model_fields and k.objective in fields and k.objective in COLUMNS


@pytest.mark.parametrize(
    ("bounds", "row", "violation"),
    [
        ({"budget_usd": 10}, {"cost_usd": 12.4}, "budget_usd: 12.40 > 10"),
        ({"max_latency_ms": 100}, {"latency_ms": 150.04}, "max_latency_ms: 150.0 > 100"),
        ({"min_accuracy": 0.9}, {"accuracy": 0.8}, "min_accuracy: 0.800 < 0.9"),
        ({"max_train_hours": 1}, {"train_hours": 2.5}, "max_train_hours: 2.50 > 1"),
    ],
    ids=["budget", "latency", "accuracy", "train-time"],
)
def test_mask_and_violation_text_agree(bounds, row, violation):
    c = Constraints(**bounds)
    ok = {"cost_usd": 1.0, "latency_ms": 1.0, "accuracy": 0.99, "train_hours": 0.1}
    t = table([{**ok, **row}, ok], c)
    assert t.feasible.tolist() == [False, True]
    bad, good = t.candidates()
    assert bad.violations == (violation,) and good.violations == ()
    head = str(unsatisfiable(c, [bad])).splitlines()[0]
    assert f"constraints.{next(iter(bounds))}=" in head and "best any option reaches" in head


def test_an_unset_bound_never_binds():
    c = Constraints(min_accuracy=0.0, budget_usd=None, max_latency_ms=None)
    t = table([{"cost_usd": 1e9, "latency_ms": 1e9, "accuracy": 0.0, "train_hours": 0.1}], c)
    assert t.feasible.tolist() == [True]
    assert all(k.shortfall(1e9, c) == 0.0 for k in CONSTRAINTS if k.bound(c) is None)
