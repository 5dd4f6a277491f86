"""``make_plan``: every feasible (train offering, serve offering, teacher, student, mode)
scored, the Pareto front over (cost, latency, accuracy, training time), and the chosen plan.

How the search stays exact and fast: each phase (serving, training) is evaluated over all its
offerings at once and reduced to its own front (``stratos.planner.phases``), the survivors
crossed per student (``stratos.planner.candidates``), the constraints applied, and the front
taken with ``pareto_mask``. Offerings with identical hardware and price in several regions are
evaluated once (the first region in sorted order represents them; the others are listed as
alternatives). The modules: ``inputs`` (request -> offerings, models, job), ``phases``,
``candidates``, ``constraints``, ``explain`` (candidate -> Plan), ``result`` (what is returned).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from stratos.catalog.offering import Offering
from stratos.exceptions import InfeasibleError
from stratos.planner import infeasible, inputs
from stratos.planner.accuracy import uncalibrated_reason
from stratos.planner.candidates import Table, cross
from stratos.planner.explain import to_plan
from stratos.planner.inputs import LOCAL_TEACHER, resolve_job
from stratos.planner.matching import MIN_RATIO, RULES, match, size_ratio
from stratos.planner.pareto import epsilon_front, pareto_mask
from stratos.planner.phases import Offers, TrainPhase, offers, serve_phase, train_phase
from stratos.planner.plan import JobSettings, Plan
from stratos.planner.result import FRONT_ABS, FRONT_REL, Candidate, PlanResult
from stratos.planner.score import Scale, deployment_score, make_scale
from stratos.spec import DistillationRequest
from stratos.zoo.registry import ModelSpec

# ``Candidate``, ``PlanResult`` and ``resolve_job`` live in their own modules; importable from here too.
__all__ = ["LOCAL_TEACHER", "Candidate", "PlanResult", "make_plan", "resolve_job"]


@dataclass
class _Evaluation:
    """Every crossed candidate and the counts the stats and the infeasible message need."""

    table: Table
    n_pairs: int
    n_phase_evals: int
    rejected_pairs: list[tuple[ModelSpec, ModelSpec]]


@dataclass
class _Choice:
    """The front (epsilon-thinned, best score first), the scores, and the chosen and baseline rows."""

    scale: Scale
    scores: np.ndarray
    front: np.ndarray
    exact_front: int
    chosen: int
    accuracy_first: int
    cost_first: int


def make_plan(
    request: DistillationRequest, catalog_dir: str | None = None, *, offerings: list[Offering] | None = None,
    exhaustive: bool = False,
) -> PlanResult:
    """Plan a request: candidates, Pareto front, chosen plan and baselines.

    ``offerings`` replaces the catalog (tests, benchmarks). ``exhaustive`` skips the per-phase
    dominance pruning and crosses every memory-feasible option (slow; it exists to verify that
    pruning never changes the front). Raises ``InfeasibleError`` naming
    the binding constraints and the nearest options when nothing satisfies the request.
    """
    t0 = time.perf_counter()
    job = resolve_job(request)
    teachers, students = inputs.models(request)
    raw = offerings if offerings is not None else inputs.offerings(request, catalog_dir)
    train_offs, alternatives = inputs.dedupe([o for o in raw if request.spot or not o.spot])
    serve_offs, _ = inputs.dedupe([o for o in raw if not o.spot])
    if not train_offs or not serve_offs:
        raise InfeasibleError(
            "no offerings left after the cloud/region/GPU filters; widen `clouds`, `regions` or `gpus`."
        )
    t_load = time.perf_counter()
    ev = _evaluate(request, job, teachers, students, offers(train_offs), offers(serve_offs), prune=not exhaustive)
    t_eval = time.perf_counter()
    cands = ev.table.candidates()
    rows = np.flatnonzero(ev.table.feasible)
    if len(rows) == 0:
        c = request.constraints
        raise (infeasible.unsatisfiable(c, cands) if cands else infeasible.no_pairs(ev.rejected_pairs)
               if not ev.n_pairs else infeasible.no_memory(ev.n_pairs))
    ch = _choose(ev.table.objectives()[rows], request)
    feasible = [cands[i] for i in rows]

    def plan_of(i: int, role: str) -> Plan:
        return to_plan(feasible[i], request, job, role, alternatives)

    roles = {"accuracy_first": ch.accuracy_first, "cost_first": ch.cost_first}
    t_end = time.perf_counter()
    return PlanResult(
        request=request, chosen=plan_of(ch.chosen, "chosen"), candidates=cands,
        pareto=[feasible[i] for i in ch.front], pareto_scores=[float(ch.scores[i]) for i in ch.front],
        baselines={k: plan_of(i, k) for k, i in roles.items()},
        baseline_scores={k: float(ch.scores[i]) for k, i in roles.items()},
        chosen_score=float(ch.scores[ch.chosen]), chosen_candidate=feasible[ch.chosen],
        baseline_candidates={k: feasible[i] for k, i in roles.items()}, scale=ch.scale,
        rules=RULES + [f"rejected by size ratio: {t.id}->{s.id} (ratio {size_ratio(t, s):.2g} < {MIN_RATIO:g})"
                       for t, s in ev.rejected_pairs if t.id != s.id][:10],
        candidate_scores=_scatter(len(cands), rows, ch.scores),
        stats={
            "offerings": len(raw), "train_offerings": len(train_offs), "serve_offerings": len(serve_offs),
            "teachers": len(teachers), "students": len(students), "pairs": ev.n_pairs,
            "phase_evaluations": ev.n_phase_evals,
            "candidates": len(cands), "feasible": len(feasible), "pareto": len(ch.front),
            "pareto_exact": ch.exact_front,
            "seconds": {"load": round(t_load - t0, 4), "evaluate": round(t_eval - t_load, 4),
                        "front_and_score": round(t_end - t_eval, 4), "total": round(t_end - t0, 4)},
        },
    )


def _evaluate(
    request: DistillationRequest, job: JobSettings, teachers: list[ModelSpec], students: list[ModelSpec],
    train: Offers, serve: Offers, prune: bool,
) -> _Evaluation:
    """Each student's serving phase crossed with the training phases of every teacher and mode the
    matching rules allow for it."""
    parts: list[dict[str, np.ndarray]] = []
    combos: list[tuple[str, str, str, bool]] = []  # (teacher, student, mode, logit_kd)
    n_pairs = n_phase_evals = 0
    rejected: list[tuple[ModelSpec, ModelSpec]] = []
    for s in students:
        sp = serve_phase(s, serve, request, prune)
        pool: list[tuple[int, TrainPhase]] = []
        for t in teachers:
            m = match(t, s, request.task_name, job.probe_threshold, None if request.mode == "auto" else request.mode)
            if m is None:
                rejected.append((t, s))
                continue
            n_pairs += 1
            for mode in m.modes:
                combos.append((t.id, s.id, mode, m.kd_possible and mode == "alignment"))
                pool.append((len(combos) - 1, train_phase(m, mode, train, request, job, prune)))
                n_phase_evals += len(train.offs)
        n_phase_evals += len(serve.offs)
        if pool and len(sp.idx):
            parts.append(cross(s, sp, pool, train, serve, prune))
    c = request.constraints
    enforced = c.model_copy(update={"min_accuracy": 0.0}) if uncalibrated_reason(request.task_name, request.key) else c  # a warning
    table = Table.of(parts, combos, train.offs, serve.offs, enforced)
    return _Evaluation(table, n_pairs, n_phase_evals, rejected)


def _choose(obj: np.ndarray, request: DistillationRequest) -> _Choice:
    """Score the feasible rows ``obj`` (cost, latency, accuracy, hours), take the front and the
    chosen plan (best score on the epsilon-front) and the two single-objective baselines."""
    c, w = request.constraints, request.weights
    minimised = obj * np.array([1.0, 1.0, -1.0, 1.0])
    front_mask = pareto_mask(minimised)
    # Ranges come from the front (its best values are the feasible set's best), so adding or
    # pruning dominated options can never change the choice.
    scale = make_scale(obj[front_mask], c.budget_usd, c.max_latency_ms, c.min_accuracy, c.max_train_hours)
    scores = deployment_score(obj, scale, (w.cost, w.latency, w.accuracy, w.train_time))
    front = np.flatnonzero(front_mask)
    front = front[np.lexsort((obj[front, 0], -scores[front]))]
    exact = len(front)
    front = front[epsilon_front(minimised[front], np.arange(exact), FRONT_ABS, FRONT_REL)]
    return _Choice(
        scale, scores, front, exact, chosen=int(front[0]),
        accuracy_first=int(np.lexsort((obj[:, 1], obj[:, 0], -obj[:, 2]))[0]),
        cost_first=int(np.lexsort((obj[:, 1], -obj[:, 2], obj[:, 0]))[0]),
    )


def _scatter(n: int, rows: np.ndarray, values: np.ndarray) -> list[float | None]:
    out: list[float | None] = [None] * n
    for r, v in zip(rows.tolist(), values.tolist(), strict=True):
        out[r] = v
    return out
