"""``make_plan``: every feasible (train offering, serve offering, teacher, student, mode)
scored, the Pareto front over (cost, latency, accuracy, training time), and the chosen plan.

How the search stays exact and fast: training and serving are independent phases whose
objectives add up (cost) or pass through (latency from serving; accuracy and hours from
training). An offering dominated *within its phase* (another is no worse on that phase's
axes and better on one) can be swapped out of any candidate for one that dominates it, so
dropping it first never removes a point of the final front. The survivors of each phase
are crossed, constraints applied, and the front taken with ``pareto_mask``. Offerings with
identical hardware and price in several regions are evaluated once (the first region in
sorted order represents them; the others are listed as alternatives).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stratos import calibration
from stratos.catalog.local import local_offering
from stratos.catalog.offering import Offering
from stratos.catalog.sky_catalog import load_cloud_offerings
from stratos.distill.settings import resolve_job as job_settings
from stratos.exceptions import InfeasibleError
from stratos.planner import estimators as est
from stratos.planner import infeasible, storage
from stratos.planner import nodes as multi
from stratos.planner.accuracy import Prediction, model_for
from stratos.planner.examples import example_tokens
from stratos.planner.hardware import Hardware, hardware_of
from stratos.planner.matching import KD_MAX_RATIO, MIN_RATIO, RULES, Match, default_mode, match, size_ratio
from stratos.planner.pareto import epsilon_front, pareto_mask
from stratos.planner.plan import CostEstimate, JobSettings, Objectives, Plan
from stratos.planner.score import Scale, deployment_score, make_scale
from stratos.spec import DistillationRequest
from stratos.zoo.endpoint import teacher_model, teacher_notes
from stratos.zoo.registry import ModelSpec, get_model, list_models

LOCAL_TEACHER = "smollm2-135m-instruct"

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
_FRONT_ABS = np.array([FRONT_TOLERANCE[k].get("absolute", 0.0) for k in ("cost_usd", "latency_ms", "accuracy", "train_hours")])
_FRONT_REL = np.array([FRONT_TOLERANCE[k].get("relative", 0.0) for k in ("cost_usd", "latency_ms", "accuracy", "train_hours")])


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


# --- inputs ----------------------------------------------------------------------------


def resolve_job(request: DistillationRequest) -> JobSettings:
    """JobSettings from the profile defaults and the request's overrides."""
    return job_settings(request.job)


def _offerings(request: DistillationRequest, catalog_dir: str | None) -> list[Offering]:
    if request.target == "local":
        return [local_offering(request.local.price_per_hour)]
    every = load_cloud_offerings(catalog_dir, request.search_clouds)
    edge = [] if request.edge_zones else [o for o in every if o.edge_zone]
    offs = every if request.edge_zones else [o for o in every if not o.edge_zone]
    standard = offs
    if request.regions:
        for r in request.regions:
            infeasible.check_name("regions", "region", r, {o.region for o in offs if o.region})
        offs = [o for o in offs if o.region in request.regions]
    wanted = request.accelerator_requests
    if wanted:
        infeasible.check_gpus(wanted, offs, standard, request.regions, edge)
        offs = [o for o in offs if any(w.admits(o.accelerator, o.accelerator_count) for w in wanted)]
    return offs


def _dedupe(offs: list[Offering]) -> tuple[list[Offering], dict[str, list[str]]]:
    """One offering per (cloud, instance type, GPU, count, price, spot); others become alternatives."""
    reps: dict[tuple, Offering] = {}
    alts: dict[str, list[str]] = {}
    for o in sorted(offs, key=lambda o: (o.cloud, o.instance_type, o.spot, o.region or "", o.zone or "")):
        key = (o.cloud, o.instance_type, o.accelerator, o.accelerator_count, o.price_per_hour, o.spot)
        if key in reps:
            alts.setdefault(reps[key].label, []).append(f"{o.region}/{o.zone}" if o.spot and o.zone else o.region or "")
        else:
            reps[key] = o
    return list(reps.values()), alts


def _hw_array(offs: list[Offering]) -> Hardware:
    hws = [hardware_of(o) for o in offs]
    return Hardware(
        name="array",
        devices=np.array([h.devices for h in hws], dtype=float),
        memory_gb=np.array([h.memory_gb for h in hws]),
        tflops=np.array([h.tflops for h in hws]),
        bandwidth_gbps=np.array([h.bandwidth_gbps for h in hws]),
        is_gpu=np.array([h.is_gpu for h in hws]),
    )


def _models(request: DistillationRequest) -> tuple[list[ModelSpec], list[ModelSpec]]:
    teachers_all = [m.id for m in list_models("teacher")]
    students_all = [m.id for m in list_models("student")]
    if isinstance(request.teacher, str):  # a zoo id (an endpoint is checked by the request model)
        infeasible.check_name("teacher", "teacher", request.teacher, teachers_all)
    if request.student:
        infeasible.check_name("student", "student", request.student, students_all)
    if request.target == "local":
        teachers = [teacher_model(request.teacher or LOCAL_TEACHER)]
        students = [get_model(request.student)] if request.student else [
            m for m in list_models("student") if m.is_scratch
        ]
        return teachers, students
    teachers = [teacher_model(request.teacher)] if request.teacher else list_models("teacher")
    students = [get_model(request.student)] if request.student else list_models("student")
    return teachers, students


# --- phases ----------------------------------------------------------------------------


@dataclass
class _ServePhase:
    idx: np.ndarray  # into serve offerings
    cost: np.ndarray
    latency: np.ndarray
    storage: np.ndarray  # the serving node's disk over the horizon (included in ``cost``)


@dataclass
class _TrainPhase:
    idx: np.ndarray
    cost: np.ndarray
    hours: np.ndarray
    synth_usd: np.ndarray
    acc: np.ndarray
    acc_lo: np.ndarray
    acc_hi: np.ndarray
    prior: np.ndarray  # the accuracy prediction rests on priors (no measured run near it)
    tokens: np.ndarray
    storage: np.ndarray  # the training nodes' disks and the bucket (included in ``cost``)
    nodes: np.ndarray


def _front_per_cloud(pts: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    """Pareto mask within each cloud: the cross-cloud egress couples a training and a serving
    option of different clouds, so an option only dominates others of its own cloud."""
    keep = np.zeros(len(pts), dtype=bool)
    for c in np.unique(clouds):
        sel = clouds == c
        keep[sel] = pareto_mask(pts[sel])
    return keep


def _serve_phase(
    student: ModelSpec, hw: Hardware, prices: np.ndarray, clouds: np.ndarray, request: DistillationRequest,
    prune: bool = True,
) -> _ServePhase:
    c = request.constraints
    ctx = c.prompt_tokens + c.output_tokens
    kv = student.kv_bytes_per_token()
    mem = est.serve_memory_gb(student.params, kv, ctx, hw)
    ok = est.fits(mem, hw)
    lat = est.serve_latency_ms(student.params, student.layers or 1, kv, c.prompt_tokens, c.output_tokens, hw)
    months = c.serving_hours / storage.HOURS_PER_MONTH
    disk = _per_cloud(clouds, storage.DISK_USD_PER_GB_MONTH) * storage.serving_disk_gb(student.id) * months
    cost = est.serve_cost_usd(prices, c.serving_hours) + disk
    idx = np.flatnonzero(ok)
    if prune:
        pts = np.stack([cost[idx], lat[idx]], axis=1)
        keep = _front_per_cloud(pts, clouds[idx]) if len(idx) else np.zeros(0, dtype=bool)
        idx = _first_of_duplicates(idx[keep], pts[keep], clouds[idx][keep])
    return _ServePhase(idx, cost[idx], lat[idx], disk[idx])


def _first_of_duplicates(idx: np.ndarray, pts: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    """Drop exact objective duplicates inside one phase and cloud (e.g. same GPU and price in two regions)."""
    if len(idx) == 0:
        return idx
    codes = np.unique(clouds, return_inverse=True)[1].reshape(-1, 1)
    _, first = np.unique(np.hstack([np.round(pts, 9), codes]), axis=0, return_index=True)
    return idx[np.sort(first)]


def _train_phase(
    m: Match, mode: str, hw: Hardware, offs: list[Offering], prices: np.ndarray, spot: np.ndarray,
    clouds: np.ndarray, request: DistillationRequest, job: JobSettings, prune: bool = True,
) -> _TrainPhase:
    t, s = m.teacher, m.student
    cloud = clouds != "local"
    c = request.constraints
    lora = not s.is_scratch
    kd = m.kd_possible and mode == "alignment"
    kd_p = t.params if kd else 0.0
    nodes, ok = _node_counts(s, lora, kd_p, hw, cloud, job.nodes)
    ok &= est.fits(est.train_memory_gb(s.params, lora, hw.devices * nodes, kd_p), hw)
    if not t.is_api:
        ok &= est.fits(est.teacher_memory_gb(t.params, hw), hw)
    coverage = t.task_coverage(request.task)
    calls = est.teacher_calls(job.n_train, mode, coverage, job.rationale_budget) + job.probe_size
    api = (t.usd_per_m_input or 0.0, t.usd_per_m_output or 0.0) if t.is_api else None
    price_n = multi.nodes_price_per_hour(prices, nodes)  # every node boots with the job and bills throughout
    # Sized from the task's data, not from the serving latency settings.
    teacher_ex = example_tokens(request.task, job.target_style, word_level=False)
    syn = est.synthesis_estimate(
        calls, teacher_ex.prompt, min(teacher_ex.target, job.teacher_max_new_tokens), api_usd_per_m=api,
        teacher_params=t.params, hw=hw, usd_per_hour=price_n,
    )
    wanted = job.n_train * example_tokens(request.task, job.target_style, s.is_scratch).total * est.EPOCHS
    tps = multi.scaled_tokens_per_s(est.train_tokens_per_s(s.params, hw, lora, kd_p), nodes)
    train_s = est.train_seconds(wanted, tps, job.max_train_minutes * 60.0)
    tokens = train_s * tps
    provision = np.where(cloud, est.PROVISION_HOURS_CLOUD, 0.0)
    hours = est.train_hours(train_s, spot, provision, synthesis_h=np.asarray(syn.hours, dtype=float))
    api_usd = syn.usd if api is not None else 0.0
    kept = _kept_storage_usd(t.id, s.id, job, clouds, nodes, hours, c.serving_hours)
    cost = hours * price_n + api_usd + kept
    pred = _predict(request.task, t, s, job, mode, coverage, tokens, hw.is_gpu)
    acc, lo, hi = pred.mean, pred.low, pred.high
    idx = np.flatnonzero(ok)
    if prune:
        names = clouds[idx]
        pts = np.stack([cost[idx], hours[idx], -acc[idx]], axis=1)
        keep = _front_per_cloud(pts, names) if len(idx) else np.zeros(0, dtype=bool)
        idx = _first_of_duplicates(idx[keep], pts[keep], names[keep])
    synth_usd = np.broadcast_to(np.asarray(api_usd if api is not None else syn.hours * price_n, dtype=float), prices.shape)
    return _TrainPhase(idx, cost[idx], hours[idx], synth_usd[idx], acc[idx], lo[idx], hi[idx], pred.prior[idx],
                       tokens[idx], kept[idx], nodes[idx])


def _node_counts(
    s: ModelSpec, lora: bool, kd_p: float, hw: Hardware, cloud: np.ndarray, asked: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Training nodes per offering and whether that count is allowed: ``job.nodes`` (``asked``) when
    the request sets it, else the fewest cloud instances whose GPUs hold the sharded training state."""
    if asked is not None:
        n = np.where(cloud, asked, 1)
        return n.astype(int), np.ones(len(n), dtype=bool)
    total_gb = est.train_memory_gb(s.params, lora, 1, kd_p) - est.RUNTIME_RESERVE_GB
    need = multi.nodes_needed(total_gb, hw.memory_gb, hw.devices, est.MEMORY_HEADROOM, est.RUNTIME_RESERVE_GB)
    n = np.where(cloud & hw.is_gpu, need, 1).astype(int)
    return n, n <= multi.MAX_AUTO_NODES


def _per_cloud(clouds: np.ndarray, table: dict[str, float]) -> np.ndarray:
    return np.select([clouds == k for k in table], list(table.values()), 0.0)


def _kept_storage_usd(
    teacher: str, student: str, job: JobSettings, clouds: np.ndarray, nodes: np.ndarray, hours: np.ndarray,
    serving_hours: float,
) -> np.ndarray:
    """Training disks (kept while the stack lives, the nodes stopped) and the bucket's artifact and data."""
    n_ex = job.n_train + job.n_val + job.n_test
    disk_gb = storage.training_disk_gb(teacher, student, n_ex) * nodes
    kept_gb = storage.artifact_gb(student) + storage.data_gb(n_ex)
    months = (np.asarray(hours, dtype=float) + serving_hours) / storage.HOURS_PER_MONTH
    return months * (_per_cloud(clouds, storage.DISK_USD_PER_GB_MONTH) * disk_gb
                     + _per_cloud(clouds, storage.BUCKET_USD_PER_GB_MONTH) * kept_gb)


def _predict(task: str, t: ModelSpec, s: ModelSpec, job: JobSettings, mode: str, coverage: float,
             tokens: np.ndarray, is_gpu: np.ndarray) -> Prediction:
    """The accuracy model (fitted on the calibration rows and the user's measured runs) for one
    pair and mode over every offering. In injection mode the teacher writes rationales for up to
    ``rationale_budget`` questions; its acceptance rate (measured in earlier runs, else a prior
    by size) sets how much a weak one hurts. A teacher's probe accuracy measured in earlier runs
    replaces the zoo's prior coverage."""
    measured = calibration.probe_accuracy(t.id, task)
    coverage = coverage if measured is None else measured
    acceptance, _ = calibration.rationale_acceptance(t.id, t.params, coverage, task)
    share = min(job.rationale_budget, job.n_train) / job.n_train if mode == "injection" else 0.0
    model = model_for(task, calibration.accuracy_rows(task))
    return model.predict_many(s.params, tokens, mode, coverage, teacher_share=share, acceptance=acceptance,
                              is_gpu=is_gpu)


# --- the search ------------------------------------------------------------------------


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
    teachers, students = _models(request)
    raw = offerings if offerings is not None else _offerings(request, catalog_dir)
    train_offs, alternatives = _dedupe([o for o in raw if request.spot or not o.spot])
    serve_offs, _ = _dedupe([o for o in raw if not o.spot])
    if not train_offs or not serve_offs:
        raise InfeasibleError(
            "no offerings left after the cloud/region/GPU filters; widen `clouds`, `regions` or `gpus`."
        )
    t_load = time.perf_counter()

    thw, shw = _hw_array(train_offs), _hw_array(serve_offs)
    tprice = np.array([o.price_per_hour for o in train_offs])
    sprice = np.array([o.price_per_hour for o in serve_offs])
    tspot = np.array([o.spot for o in train_offs])
    tcloud = np.array([o.cloud for o in train_offs])
    scloud = np.array([o.cloud for o in serve_offs])

    prune = not exhaustive
    serve_phase = {s.id: _serve_phase(s, shw, sprice, scloud, request, prune) for s in students}
    c = request.constraints
    cols: dict[str, list[np.ndarray]] = {k: [] for k in _COLUMNS}
    combos: list[tuple[str, str, str, bool]] = []  # (teacher, student, mode, logit_kd)
    n_pairs = n_phase_evals = 0
    rejected_pairs: list[tuple[ModelSpec, ModelSpec]] = []
    for s in students:
        sp = serve_phase[s.id]
        pool: list[tuple[int, _TrainPhase]] = []
        for t in teachers:
            m = match(t, s, request.task, job.probe_threshold, None if request.mode == "auto" else request.mode)
            if m is None:
                rejected_pairs.append((t, s))
                continue
            n_pairs += 1
            for mode in m.modes:
                combos.append((t.id, s.id, mode, m.kd_possible and mode == "alignment"))
                pool.append((len(combos) - 1, _train_phase(m, mode, thw, train_offs, tprice, tspot, tcloud, request, job, prune)))
                n_phase_evals += len(train_offs)
        n_phase_evals += len(serve_offs)
        if not pool or len(sp.idx) == 0:
            continue
        # Teacher and mode do not change serving, so one student's training options from every
        # teacher and mode compete directly: keep their joint (cost, hours, -accuracy) front.
        tp = _concat([p for _, p in pool])
        combo = np.concatenate([np.full(len(p.idx), k) for k, p in pool])
        pts = np.stack([tp.cost, tp.hours, -tp.acc], axis=1)
        keep = _front_per_cloud(pts, tcloud[tp.idx]) if prune else np.ones(len(tp.idx), bool)
        ti = np.flatnonzero(keep)
        a, b = np.repeat(ti, len(sp.idx)), np.tile(np.arange(len(sp.idx)), len(ti))
        src, dst = tcloud[tp.idx[a]], scloud[sp.idx[b]]
        egress = np.where(src != dst, _per_cloud(src, storage.EGRESS_USD_PER_GB) * storage.artifact_gb(s.id), 0.0)
        cols["combo"].append(combo[a])
        cols["train"].append(tp.idx[a])
        cols["serve"].append(sp.idx[b])
        cols["cost"].append(tp.cost[a] + sp.cost[b] + egress)
        cols["latency"].append(sp.latency[b])
        cols["acc"].append(tp.acc[a])
        cols["acc_lo"].append(tp.acc_lo[a])
        cols["acc_hi"].append(tp.acc_hi[a])
        cols["prior"].append(tp.prior[a])
        cols["hours"].append(tp.hours[a])
        cols["synth"].append(tp.synth_usd[a])
        cols["training"].append(tp.cost[a] - tp.synth_usd[a] - tp.storage[a])
        cols["serving"].append(sp.cost[b] - sp.storage[b])
        cols["storage"].append(tp.storage[a] + sp.storage[b] + egress)
        cols["nodes"].append(tp.nodes[a])
        cols["tokens"].append(tp.tokens[a])
    table = _Table(
        {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()},
        combos, train_offs, serve_offs, c,
    )
    t_eval = time.perf_counter()
    cands = table.candidates()
    feasible_rows = np.flatnonzero(table.feasible)
    if len(feasible_rows) == 0:
        raise (infeasible.unsatisfiable(c, cands) if cands else infeasible.no_pairs(rejected_pairs) if not n_pairs
               else infeasible.no_memory(n_pairs))
    feasible = [cands[i] for i in feasible_rows]

    obj = table.objectives()[feasible_rows]
    minimised = obj * np.array([1.0, 1.0, -1.0, 1.0])
    front_mask = pareto_mask(minimised)
    # Ranges come from the front (its best values are the feasible set's best), so adding or
    # pruning dominated options can never change the choice.
    scale = make_scale(obj[front_mask], c.budget_usd, c.max_latency_ms, c.min_accuracy, c.max_train_hours)
    w = request.weights
    scores = deployment_score(obj, scale, (w.cost, w.latency, w.accuracy, w.train_time))
    front_idx = np.flatnonzero(front_mask)
    front_idx = front_idx[np.lexsort((obj[front_idx, 0], -scores[front_idx]))]
    exact_front = len(front_idx)
    front_idx = front_idx[epsilon_front(minimised[front_idx], np.arange(exact_front), _FRONT_ABS, _FRONT_REL)]
    chosen_i = int(front_idx[0])
    acc_i = int(np.lexsort((obj[:, 1], obj[:, 0], -obj[:, 2]))[0])
    cost_i = int(np.lexsort((obj[:, 1], -obj[:, 2], obj[:, 0]))[0])
    t_end = time.perf_counter()

    def plan_of(i: int, role: str) -> Plan:
        return _to_plan(feasible[i], request, job, role, alternatives)

    return PlanResult(
        request=request,
        chosen=plan_of(chosen_i, "chosen"),
        candidates=cands,
        pareto=[feasible[i] for i in front_idx],
        pareto_scores=[float(scores[i]) for i in front_idx],
        baselines={"accuracy_first": plan_of(acc_i, "accuracy_first"), "cost_first": plan_of(cost_i, "cost_first")},
        baseline_scores={"accuracy_first": float(scores[acc_i]), "cost_first": float(scores[cost_i])},
        chosen_score=float(scores[chosen_i]),
        chosen_candidate=feasible[chosen_i],
        baseline_candidates={"accuracy_first": feasible[acc_i], "cost_first": feasible[cost_i]},
        scale=scale,
        rules=RULES + [f"rejected by size ratio: {t.id}->{s.id} (ratio {size_ratio(t, s):.2g} < {MIN_RATIO:g})"
                       for t, s in rejected_pairs if t.id != s.id][:10],
        candidate_scores=_scatter(len(cands), feasible_rows, scores),
        stats={
            "offerings": len(raw), "train_offerings": len(train_offs), "serve_offerings": len(serve_offs),
            "teachers": len(teachers), "students": len(students), "pairs": n_pairs,
            "phase_evaluations": n_phase_evals,
            "candidates": len(cands), "feasible": len(feasible), "pareto": len(front_idx),
            "pareto_exact": exact_front,
            "seconds": {"load": round(t_load - t0, 4), "evaluate": round(t_eval - t_load, 4),
                        "front_and_score": round(t_end - t_eval, 4), "total": round(t_end - t0, 4)},
        },
    )


_COLUMNS = ("combo", "train", "serve", "cost", "latency", "acc", "acc_lo", "acc_hi", "prior", "hours", "synth",
            "training", "serving", "storage", "nodes", "tokens")


def _scatter(n: int, rows: np.ndarray, values: np.ndarray) -> list[float | None]:
    out: list[float | None] = [None] * n
    for r, v in zip(rows.tolist(), values.tolist(), strict=True):
        out[r] = v
    return out


def _concat(phases: list[_TrainPhase]) -> _TrainPhase:
    return _TrainPhase(*(np.concatenate([getattr(p, f) for p in phases]) for f in _TrainPhase.__dataclass_fields__))


@dataclass
class _Table:
    """All combined candidates as numpy columns; ``Candidate`` objects are built from rows."""

    col: dict[str, np.ndarray]
    combos: list[tuple[str, str, str, bool]]
    train_offs: list[Offering]
    serve_offs: list[Offering]
    c: Any

    def __post_init__(self) -> None:
        c, col = self.c, self.col
        n = len(col["cost"])
        self.viol_budget = col["cost"] > c.budget_usd if c.budget_usd is not None else np.zeros(n, bool)
        self.viol_latency = col["latency"] > c.max_latency_ms if c.max_latency_ms is not None else np.zeros(n, bool)
        self.viol_accuracy = col["acc"] < c.min_accuracy
        self.viol_hours = col["hours"] > c.max_train_hours
        self.feasible = ~(self.viol_budget | self.viol_latency | self.viol_accuracy | self.viol_hours)

    def objectives(self) -> np.ndarray:
        return np.stack([self.col["cost"], self.col["latency"], self.col["acc"], self.col["hours"]], axis=1)

    def candidates(self) -> list[Candidate]:
        col, c = self.col, self.c
        out = []
        lists = {k: v.tolist() for k, v in col.items()}
        vb, vl, va, vh = (self.viol_budget.tolist(), self.viol_latency.tolist(), self.viol_accuracy.tolist(),
                          self.viol_hours.tolist())
        for i in range(len(lists["cost"])):
            teacher, student, mode, kd = self.combos[int(lists["combo"][i])]
            viol: list[str] = []
            if vb[i]:
                viol.append(f"budget_usd: {lists['cost'][i]:.2f} > {c.budget_usd:g}")
            if vl[i]:
                viol.append(f"max_latency_ms: {lists['latency'][i]:.1f} > {c.max_latency_ms:g}")
            if va[i]:
                viol.append(f"min_accuracy: {lists['acc'][i]:.3f} < {c.min_accuracy:g}")
            if vh[i]:
                viol.append(f"max_train_hours: {lists['hours'][i]:.2f} > {c.max_train_hours:g}")
            out.append(Candidate(
                train=self.train_offs[int(lists["train"][i])], serve=self.serve_offs[int(lists["serve"][i])],
                teacher=teacher, student=student, mode=mode, logit_kd=kd, cost_usd=lists["cost"][i],
                latency_ms=lists["latency"][i], accuracy=lists["acc"][i], accuracy_low=lists["acc_lo"][i],
                accuracy_high=lists["acc_hi"][i], accuracy_prior=bool(lists["prior"][i]),
                train_hours=lists["hours"][i], synthesis_usd=lists["synth"][i],
                training_usd=lists["training"][i], serving_usd=lists["serving"][i], tokens_seen=lists["tokens"][i],
                storage_usd=lists["storage"][i], train_nodes=int(lists["nodes"][i]), violations=tuple(viol),
            ))
        return out


def _to_plan(
    x: Candidate, request: DistillationRequest, job: JobSettings, role: str, alternatives: dict[str, list[str]]
) -> Plan:
    t, s = teacher_model(x.teacher), get_model(x.student)
    cov = t.task_coverage(request.task)
    reasons = [
        f"{role}: {s.id} ({s.params_b * 1e3:.3g}M params) distilled from {t.id} by {x.mode}; "
        f"predicted accuracy {x.accuracy:.1%} (80% band {x.accuracy_low:.1%}-{x.accuracy_high:.1%}"
        + (", prior: no measured run near this student size on this hardware, band widened)" if x.accuracy_prior
           else ", fitted on measured runs)"),
        f"mode: teacher's expected {request.task} accuracy {cov:.0%} vs probe threshold "
        f"{job.probe_threshold:.0%} -> default {default_mode(t, request.task, job.probe_threshold)}"
        + (f"; mode forced to {request.mode} by the request" if request.mode else "")
        + (f" (priced as {x.mode}; the job's probe of the teacher decides)" if request.mode == "auto" else ""),
        f"size ratio teacher/student {size_ratio(t, s):,.0f}x; logit KD " + _kd_reason(x, t, s),
        f"train on {x.train_nodes} x {x.train.label}: {x.train_hours:.2f} h incl. synthesis, ${x.training_usd + x.synthesis_usd:.2f}; "
        f"serve on {x.serve.label}: {x.latency_ms:.0f} ms for {request.constraints.prompt_tokens}+"
        f"{request.constraints.output_tokens} tokens, ${x.serving_usd:.2f} over {request.constraints.serving_hours:g} h",
    ]
    if alternatives.get(x.train.label):
        reasons.append(f"same train price also in: {', '.join(sorted(set(alternatives[x.train.label])))[:200]}")
    assumptions = [
        f"{est.EPOCHS} epochs of {job.n_train} examples x {example_tokens(request.task, job.target_style, s.is_scratch).total:.0f} "
        f"tokens (mean of the task's {job.target_style} examples), capped at {job.max_train_minutes:g} min",
        f"training MFU {est.MFU_TRAIN_GPU:.0%} on GPU; LoRA 4·P FLOPs/token, full 6·P",
        f"one serving replica for {request.constraints.serving_hours:g} h (on-demand)",
        "storage: node disks until destroy, the bucket, cross-cloud artifact egress (stratos.planner.storage)",
        *([f"{x.train_nodes} training nodes at {multi.INTER_NODE_EFFICIENCY:.0%} scaling efficiency"] if x.train_nodes > 1 else []),
        "prices from the SkyPilot catalog snapshot (USD/h)" if x.train.cloud != "local" else "local machine priced at the request's local.price_per_hour",
        *teacher_notes(x.teacher),
    ]
    return Plan(
        task=request.task, train=x.train, serve=x.serve, teacher=x.teacher, student=x.student,
        mode="auto" if request.mode == "auto" else x.mode, logit_kd=x.logit_kd,
        objectives=Objectives(
            cost_usd=x.cost_usd, latency_ms=x.latency_ms, accuracy=x.accuracy,
            accuracy_low=x.accuracy_low, accuracy_high=x.accuracy_high, accuracy_basis=x.accuracy_basis,
            train_hours=x.train_hours,
        ),
        cost=CostEstimate(
            synthesis_usd=x.synthesis_usd, training_usd=max(x.training_usd, 0.0), serving_usd=x.serving_usd,
            storage_usd=x.storage_usd, total_usd=x.cost_usd, assumptions=assumptions,
        ),
        job=job.model_copy(update={"nodes": x.train_nodes}),
        reasons=reasons,
    )


def _kd_reason(x: Candidate, t: ModelSpec, s: ModelSpec) -> str:
    if x.logit_kd:
        return f"on (shared tokenizer '{s.tokenizer}', teacher weights local)"
    if t.is_api:
        return "off (API teacher: no logits)"
    if t.tokenizer != s.tokenizer:
        return f"off (tokenizers differ: {t.tokenizer} vs {s.tokenizer})"
    if size_ratio(t, s) > KD_MAX_RATIO:
        return f"off (capacity gap above {KD_MAX_RATIO:g}x)"
    return "off (injection mode trains on verified data only)"
