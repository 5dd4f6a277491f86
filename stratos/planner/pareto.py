"""Pareto filters over objective vectors where every axis is minimised.

``pareto_mask`` is the one the planner uses (sort + blockwise numpy checks; the planner's
feasible set is mostly front, e.g. 19,746 of 23,855 AWS candidates, so the constant matters), then
``epsilon_front`` collapses points that differ by less than a stated tolerance;
``brute_force_mask`` is the O(n²) definition, kept for tests and the benchmark.
A point is dominated when another is <= on every axis and < on at least one;
exact duplicates do not dominate each other, so all copies of a front point stay.
"""

from __future__ import annotations

import numpy as np


def brute_force_mask(points: np.ndarray) -> np.ndarray:
    """Non-dominated mask by comparing every pair. ``points``: (n, k), minimise all k axes."""
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        le = np.all(pts <= pts[i], axis=1)
        lt = np.any(pts < pts[i], axis=1)
        if np.any(le & lt):
            keep[i] = False
    return keep


def _weakly_below(by: list[np.ndarray], rows: list[np.ndarray]) -> np.ndarray:
    """(len(rows), len(by)) mask: ``by`` point <= ``rows`` point on every axis. Axis by axis on
    2-D arrays, because numpy reduces a short last axis (``all(axis=2)`` over 4) very slowly."""
    mask = by[0][None, :] <= rows[0][:, None]
    for b, r in zip(by[1:], rows[1:], strict=True):
        mask &= b[None, :] <= r[:, None]
    return mask


def pareto_mask(points: np.ndarray, block: int = 256) -> np.ndarray:
    """Non-dominated mask, same result as ``brute_force_mask``, in ~O(n·f) for front size f.

    Exact duplicates are folded first (they do not dominate each other, so all copies of a
    front point stay); then a distinct point <= on every axis dominates. Distinct points are
    visited in lexicographic order, so a point can only be dominated by one visited before it:
    each block is checked against the front found so far, then against its own earlier points.
    """
    pts = np.asarray(points, dtype=float)
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    uniq, inverse = np.unique(pts, axis=0, return_inverse=True)
    cols = [np.ascontiguousarray(uniq[:, a]) for a in range(uniq.shape[1])]
    keep = np.zeros(len(uniq), dtype=bool)
    front = np.empty(0, dtype=np.int64)
    for start in range(0, len(uniq), block):
        rows = np.arange(start, min(start + block, len(uniq)))
        if len(front):
            rows = rows[~_weakly_below([c[front] for c in cols], [c[rows] for c in cols]).any(axis=1)]
        own = _weakly_below([c[rows] for c in cols], [c[rows] for c in cols])
        np.fill_diagonal(own, False)
        survivors = rows[~own.any(axis=1)]
        keep[survivors] = True
        front = np.concatenate([front, survivors])
    return keep[inverse.reshape(-1)]


def epsilon_dominated(points: np.ndarray, by: np.ndarray, abs_tol: np.ndarray, rel_tol: np.ndarray) -> np.ndarray:
    """For each row of ``points``: is it ε-dominated by some row of ``by``?

    ``q`` ε-dominates ``p`` when ``q_i <= p_i + abs_tol_i + rel_tol_i·|p_i|`` on every axis
    (minimised): nowhere worse than ``p`` by more than the tolerance. Two points within the
    tolerance of each other on every axis ε-dominate each other.
    """
    pts, by = np.asarray(points, dtype=float), np.asarray(by, dtype=float)
    if len(pts) == 0 or len(by) == 0:
        return np.zeros(len(pts), dtype=bool)
    slack = pts + np.asarray(abs_tol) + np.asarray(rel_tol) * np.abs(pts)
    return np.any(np.all(by[None, :, :] <= slack[:, None, :], axis=2), axis=1)


def epsilon_front(points: np.ndarray, order: np.ndarray, abs_tol: np.ndarray, rel_tol: np.ndarray) -> np.ndarray:
    """Mask of an ε-approximate front: representatives of ``points`` (themselves a Pareto front).

    Points are visited in ``order`` (best first: the planner passes descending deployment score,
    so the chosen plan is always kept); a point is kept unless a point kept before it
    ε-dominates it (``epsilon_dominated``). So every input point is within the tolerance of a
    kept one on every axis or beaten by it, kept points are a subset of the exact front (no kept
    point dominates another at full precision), and points differing only by noise (a plan
    $1.43 dearer on $2,000 and microseconds faster) collapse to one.
    """
    pts = np.asarray(points, dtype=float)
    keep = np.zeros(len(pts), dtype=bool)
    kept: list[int] = []
    for i in np.asarray(order, dtype=int).tolist():
        if not kept or not epsilon_dominated(pts[i : i + 1], pts[kept], abs_tol, rel_tol)[0]:
            keep[i] = True
            kept.append(i)
    return keep
