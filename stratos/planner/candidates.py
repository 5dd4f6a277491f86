"""Every candidate as numpy columns: one student's serving options crossed with its training
options (any teacher and mode), the feasibility mask from the constraint table, and
``Candidate`` objects built from rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stratos.planner import storage
from stratos.planner.constraints import CONSTRAINTS
from stratos.planner.phases import (
    Offers,
    ServePhase,
    TrainPhase,
    concat,
    front_per_cloud,
    per_cloud,
)
from stratos.planner.result import Candidate
from stratos.zoo.registry import ModelSpec

#: The table's columns: the objectives under their ``Candidate`` names, then the rest.
COLUMNS = ("combo", "train", "serve", "cost_usd", "latency_ms", "accuracy", "acc_lo", "acc_hi", "prior",
           "train_hours", "synth_hours", "synth", "training", "serving", "storage", "nodes", "tokens")


def cross(
    s: ModelSpec, sp: ServePhase, pool: list[tuple[int, TrainPhase]], train: Offers, serve: Offers, prune: bool,
) -> dict[str, np.ndarray]:
    """One student's candidates: its training options from every (teacher, mode) in ``pool``
    (``combo`` index, phase) crossed with its serving options, cross-cloud egress added.

    Teacher and mode do not change serving, so the training options compete directly: with
    ``prune`` only their joint (cost, hours, -accuracy) front per cloud is crossed."""
    tp = concat([p for _, p in pool])
    combo = np.concatenate([np.full(len(p.idx), k) for k, p in pool])
    pts = np.stack([tp.cost, tp.hours, -tp.acc], axis=1)
    keep = front_per_cloud(pts, train.clouds[tp.idx]) if prune else np.ones(len(tp.idx), bool)
    ti = np.flatnonzero(keep)
    a, b = np.repeat(ti, len(sp.idx)), np.tile(np.arange(len(sp.idx)), len(ti))
    src, dst = train.clouds[tp.idx[a]], serve.clouds[sp.idx[b]]
    egress = np.where(src != dst, per_cloud(src, storage.EGRESS_USD_PER_GB) * storage.artifact_gb(s.id), 0.0)
    return {
        "combo": combo[a], "train": tp.idx[a], "serve": sp.idx[b], "cost_usd": tp.cost[a] + sp.cost[b] + egress,
        "latency_ms": sp.latency[b], "accuracy": tp.acc[a], "acc_lo": tp.acc_lo[a], "acc_hi": tp.acc_hi[a],
        "prior": tp.prior[a], "train_hours": tp.hours[a], "synth_hours": tp.synth_hours[a], "synth": tp.synth_usd[a],
        "training": tp.cost[a] - tp.synth_usd[a] - tp.storage[a], "serving": sp.cost[b] - sp.storage[b],
        "storage": tp.storage[a] + sp.storage[b] + egress, "nodes": tp.nodes[a], "tokens": tp.tokens[a],
    }


@dataclass
class Table:
    """All combined candidates as numpy columns; ``Candidate`` objects are built from rows."""

    col: dict[str, np.ndarray]
    combos: list[tuple[str, str, str, bool]]  # (teacher, student, mode, logit_kd) per ``combo`` index
    train_offs: list[Any]
    serve_offs: list[Any]
    c: Any

    @classmethod
    def of(cls, parts: list[dict[str, np.ndarray]], combos: list, train_offs: list, serve_offs: list,
           c: Any) -> Table:
        col = {k: (np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)) for k in COLUMNS}
        return cls(col, combos, train_offs, serve_offs, c)

    def __post_init__(self) -> None:
        self.violated = {k.key: k.violated(self.col[k.objective], self.c) for k in CONSTRAINTS}
        self.feasible = ~np.logical_or.reduce([self.violated[k.key] for k in CONSTRAINTS])

    def objectives(self) -> np.ndarray:
        return np.stack([self.col[k] for k in ("cost_usd", "latency_ms", "accuracy", "train_hours")], axis=1)

    def candidates(self) -> list[Candidate]:
        lists = {k: v.tolist() for k, v in self.col.items()}
        violated = {k: v.tolist() for k, v in self.violated.items()}
        return [self._candidate(i, lists, violated) for i in range(len(lists["cost_usd"]))]

    def _candidate(self, i: int, lists: dict[str, list], violated: dict[str, list]) -> Candidate:
        teacher, student, mode, kd = self.combos[int(lists["combo"][i])]
        viol = tuple(k.violation(lists[k.objective][i], self.c) for k in CONSTRAINTS if violated[k.key][i])
        return Candidate(
            train=self.train_offs[int(lists["train"][i])], serve=self.serve_offs[int(lists["serve"][i])],
            teacher=teacher, student=student, mode=mode, logit_kd=kd, cost_usd=lists["cost_usd"][i],
            latency_ms=lists["latency_ms"][i], accuracy=lists["accuracy"][i], accuracy_low=lists["acc_lo"][i],
            accuracy_high=lists["acc_hi"][i], accuracy_prior=bool(lists["prior"][i]),
            train_hours=lists["train_hours"][i], synthesis_hours=lists["synth_hours"][i], synthesis_usd=lists["synth"][i],
            training_usd=lists["training"][i], serving_usd=lists["serving"][i], tokens_seen=lists["tokens"][i],
            storage_usd=lists["storage"][i], train_nodes=int(lists["nodes"][i]), violations=viol,
        )
