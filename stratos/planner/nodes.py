"""Several training nodes: how many a student needs, and what N nodes deliver and cost.

Pure functions over the estimators' hardware arrays, so the search prices every
offering at its node count in one call. Assumptions, named so a calibration can
replace them:

* data parallel (or sharded) training over N identical nodes runs at
  ``N x one node's tokens/s x INTER_NODE_EFFICIENCY`` when N > 1: gradients cross
  the cloud's instance network (25-400 Gb/s, not NVLink) once per step, which costs
  large jobs 10-20 % on the clouds' standard networking (placement groups help);
* memory is sharded over all N x devices, so a student that fits no single instance
  may fit N of them;
* every node is billed for the whole training time (they boot and stop together).
"""

from __future__ import annotations

import numpy as np

#: Fraction of linear scaling kept across nodes (gradient all-reduce over the instance network).
INTER_NODE_EFFICIENCY = 0.85
#: Most nodes the planner proposes by itself; ``stratos:job.nodes`` may ask for more.
MAX_AUTO_NODES = 8


def nodes_needed(need_gb_total: float, memory_gb: np.ndarray, devices: np.ndarray, headroom: float,
                 reserve_gb: float) -> np.ndarray:
    """Smallest node count whose devices hold ``need_gb_total`` (sharded state, GB) within
    ``headroom`` of each device's memory after ``reserve_gb`` per device; capped at
    ``MAX_AUTO_NODES`` + 1 (meaning: does not fit)."""
    usable = np.maximum(headroom * memory_gb - reserve_gb, 1e-9) * devices
    n = np.ceil(need_gb_total / usable)
    return np.clip(n, 1, MAX_AUTO_NODES + 1).astype(int)


def scaled_tokens_per_s(tokens_per_s_one_node: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Training throughput of ``nodes`` nodes (tokens/s), see the module docstring."""
    nodes = np.asarray(nodes, dtype=float)
    return tokens_per_s_one_node * nodes * np.where(nodes > 1, INTER_NODE_EFFICIENCY, 1.0)


def nodes_price_per_hour(price_per_hour: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """USD/hour of N identical instances."""
    return price_per_hour * np.asarray(nodes, dtype=float)
