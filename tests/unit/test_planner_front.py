"""The epsilon-front: representatives of the exact Pareto front, checkable from the JSON alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.planning import module_cache  # noqa: F401 - autouse: this module's own cache

from stratos.planner import make_plan
from stratos.planner.pareto import brute_force_mask, epsilon_dominated, epsilon_front
from stratos.spec import parse_request

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = str(ROOT / "tests" / "fixtures" / "catalog")
AXES = ("cost_usd", "latency_ms", "accuracy", "train_hours")


def test_points_within_tolerance_collapse_to_the_first_visited():
    abs_tol, rel_tol = np.array([0.0, 1.0]), np.array([0.01, 0.0])
    pts = np.array([
        [100.0, 50.0],  # kept (visited first)
        [99.5, 50.2],   # within 1% and 1 ms of the first: dropped
        [101.0, 49.9],  # worse by 1%: still within
        [90.0, 50.5],   # 10% cheaper: a real choice, kept
        [100.0, 40.0],  # 10 ms faster: kept
    ])
    assert epsilon_front(pts, np.arange(5), abs_tol, rel_tol).tolist() == [True, False, False, True, True]
    # the visiting order picks the representative
    assert epsilon_front(pts, [1, 0, 2, 3, 4], abs_tol, rel_tol).tolist() == [False, True, False, True, True]
    assert epsilon_dominated(pts[[1]], pts[[0]], abs_tol, rel_tol).tolist() == [True]
    assert epsilon_dominated(pts[[3]], pts[[0]], abs_tol, rel_tol).tolist() == [False]


def _from_json(front: list[dict], key: str = "objectives") -> np.ndarray:
    """Minimised objective vectors (accuracy negated) from the contract JSON."""
    return np.array([[c[key][a] * (-1 if a == "accuracy" else 1) for a in AXES] for c in front])


def test_front_is_verifiable_from_the_json_alone():
    request = parse_request({"target": "aws", "clouds": ["aws", "gcp"], "spot": True,
                             "constraints": {"max_latency_ms": 800, "budget_usd": 3000}})
    j = json.loads(json.dumps(make_plan(request, FIXTURE).to_json()))
    front = _from_json(j["pareto"])
    feasible = _from_json([c for c in j["candidates"] if c["feasible"]])
    tol = j["front"]["tolerance"]
    abs_tol = np.array([tol[a].get("absolute", 0.0) for a in AXES])
    rel_tol = np.array([tol[a].get("relative", 0.0) for a in AXES])
    # no front point dominates another at full precision
    assert brute_force_mask(front).all()
    # nothing feasible dominates a front point
    for p in front:
        assert not np.any(np.all(feasible <= p, axis=1) & np.any(feasible < p, axis=1))
    # every feasible candidate is within the tolerance of a front point, or beaten by one
    assert epsilon_dominated(feasible, front, abs_tol, rel_tol).all()
    # no two front points are within the tolerance of each other on every axis
    for i in range(len(front)):
        for k in range(i + 1, len(front)):
            both = epsilon_dominated(front[[i]], front[[k]], abs_tol, rel_tol)[0] and epsilon_dominated(
                front[[k]], front[[i]], abs_tol, rel_tol)[0]
            assert not both, (j["pareto"][i], j["pareto"][k])
    assert j["front"]["exact_size"] > j["front"]["size"] == len(j["pareto"]) > 1
    # the chosen plan is on the front it is shown with
    assert j["pareto"][0]["score"] == pytest.approx(j["chosen"]["score"], abs=1e-4)
