"""Per-phase estimates over every offering at once: serving a student, and training it
(teacher synthesis + training) for one teacher-student pair and mode.

Training and serving are independent phases whose objectives add up (cost) or pass through
(latency from serving; accuracy and hours from training), so each phase is evaluated on its
own offerings and, when ``prune`` is set, reduced to its own front: an option dominated within
its phase (and cloud, since cross-cloud egress couples the phases) can be swapped out of any
candidate for one that dominates it, so dropping it never removes a point of the final front.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from stratos import calibration
from stratos.catalog.offering import Offering
from stratos.planner import estimators as est
from stratos.planner import host_rate, storage, teacher_time
from stratos.planner import nodes as multi
from stratos.planner.accuracy import Prediction, model_for
from stratos.planner.examples import example_tokens, teacher_prompt_tokens
from stratos.planner.hardware import Hardware, hardware_of
from stratos.planner.matching import Match
from stratos.planner.pareto import pareto_mask
from stratos.planner.plan import JobSettings
from stratos.spec import DistillationRequest
from stratos.zoo.registry import ModelSpec


@dataclass(frozen=True)
class Offers:
    """One phase's offerings and their facts as arrays (hardware, USD/h, spot, cloud)."""

    offs: list[Offering]
    hw: Hardware
    prices: np.ndarray
    spot: np.ndarray
    clouds: np.ndarray


def offers(offs: list[Offering]) -> Offers:
    hws = [hardware_of(o) for o in offs]
    hw = Hardware(
        name="array",
        devices=np.array([h.devices for h in hws], dtype=float),
        memory_gb=np.array([h.memory_gb for h in hws]),
        tflops=np.array([h.tflops for h in hws]),
        bandwidth_gbps=np.array([h.bandwidth_gbps for h in hws]),
        is_gpu=np.array([h.is_gpu for h in hws]),
        read_gbps=np.stack([h.read_gbps for h in hws]),
        cores=np.array([h.cores for h in hws]),
    )
    return Offers(offs, hw, np.array([o.price_per_hour for o in offs]), np.array([o.spot for o in offs]),
                  np.array([o.cloud for o in offs]))


@dataclass
class ServePhase:
    idx: np.ndarray  # into serve offerings
    cost: np.ndarray
    latency: np.ndarray
    storage: np.ndarray  # the serving node's disk over the horizon (included in ``cost``)


@dataclass
class TrainPhase:
    idx: np.ndarray
    cost: np.ndarray
    hours: np.ndarray
    synth_hours: np.ndarray  # the teacher's work (probe, rationales, evaluation), included in ``hours``
    synth_usd: np.ndarray
    acc: np.ndarray
    acc_lo: np.ndarray
    acc_hi: np.ndarray
    prior: np.ndarray  # the accuracy prediction rests on priors (no measured run near it)
    tokens: np.ndarray
    storage: np.ndarray  # the training nodes' disks and the bucket (included in ``cost``)
    nodes: np.ndarray


def concat(phases: list[TrainPhase]) -> TrainPhase:
    return TrainPhase(*(np.concatenate([getattr(p, f) for p in phases]) for f in TrainPhase.__dataclass_fields__))


def front_per_cloud(pts: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    """Pareto mask within each cloud: the cross-cloud egress couples a training and a serving
    option of different clouds, so an option only dominates others of its own cloud."""
    keep = np.zeros(len(pts), dtype=bool)
    for c in np.unique(clouds):
        sel = clouds == c
        keep[sel] = pareto_mask(pts[sel])
    return keep


def _prune(idx: np.ndarray, pts: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    """``idx`` reduced to its per-cloud front, exact duplicates dropped; ``pts``/``clouds`` are ``idx``'s rows."""
    keep = front_per_cloud(pts, clouds) if len(idx) else np.zeros(0, dtype=bool)
    return _first_of_duplicates(idx[keep], pts[keep], clouds[keep])


def _first_of_duplicates(idx: np.ndarray, pts: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    """Drop exact objective duplicates inside one phase and cloud (e.g. same GPU and price in two regions)."""
    if len(idx) == 0:
        return idx
    codes = np.unique(clouds, return_inverse=True)[1].reshape(-1, 1)
    _, first = np.unique(np.hstack([np.round(pts, 9), codes]), axis=0, return_index=True)
    return idx[np.sort(first)]


def per_cloud(clouds: np.ndarray, table: dict[str, float]) -> np.ndarray:
    """``table``'s value for each entry's cloud (0 for a cloud it does not list, e.g. local)."""
    return np.select([clouds == k for k in table], list(table.values()), 0.0)


def serve_phase(student: ModelSpec, side: Offers, request: DistillationRequest, prune: bool = True) -> ServePhase:
    """Serving ``student`` on each offering that holds it: cost over the horizon (disk included), latency."""
    c, hw, clouds = request.constraints, side.hw, side.clouds
    kv = student.kv_bytes_per_token()
    ok = est.fits(est.serve_memory_gb(student.params, kv, c.prompt_tokens + c.output_tokens, hw), hw)
    lat = est.model_latency_ms(student, c.prompt_tokens, c.output_tokens, hw)
    months = c.serving_hours / storage.HOURS_PER_MONTH
    disk = per_cloud(clouds, storage.DISK_USD_PER_GB_MONTH) * storage.serving_disk_gb(student.id) * months
    cost = est.serve_cost_usd(side.prices, c.serving_hours) + disk
    idx = np.flatnonzero(ok)
    if prune:
        idx = _prune(idx, np.stack([cost[idx], lat[idx]], axis=1), clouds[idx])
    return ServePhase(idx, cost[idx], lat[idx], disk[idx])


def train_phase(
    m: Match, mode: str, side: Offers, request: DistillationRequest, job: JobSettings, prune: bool = True,
) -> TrainPhase:
    """Synthesis then training of ``m.student`` by ``m.teacher`` in ``mode`` on each offering whose
    memory holds it: cost (nodes, API, kept storage), wall-clock hours, predicted accuracy."""
    t, s, hw = m.teacher, m.student, side.hw
    lora = not s.is_scratch
    kd_p = t.params if m.kd_possible and mode == "alignment" else 0.0
    nodes, ok = node_counts(s, lora, kd_p, hw, side.clouds != "local", job.nodes)
    ok &= est.fits(est.train_memory_gb(s.params, lora, hw.devices * nodes, kd_p), hw)
    if not t.is_api:
        ok &= est.fits(est.teacher_memory_gb(t.params, hw), hw)
    coverage = t.task_coverage(request.task_name)
    api = (t.usd_per_m_input or 0.0, t.usd_per_m_output or 0.0) if t.is_api else None
    price_n = multi.nodes_price_per_hour(side.prices, nodes)  # every node boots with the job and bills throughout
    syn = _synthesis(t, mode, coverage, side, price_n, api, request, job)
    wanted, _ = job.train_token_cap(job.n_train * example_tokens(request.task_ref, job.target_style, s.is_scratch).total,
                                    s.params)
    tps = multi.scaled_tokens_per_s(local_rate(s, lora, kd_p, side, job, request.key), nodes)
    compiles = job.compiles(s.is_scratch)
    floor = est.gpu_launch_bound_tokens_per_s(s.layers, job.batch_blocks, job.micro_blocks, job.seq_len, compiles)
    tps = np.where(hw.is_gpu, np.minimum(tps, floor), tps)
    # On a CPU the rate is a whole run's (host_rate: compiling included); a GPU's is steady-state.
    warmup = np.where(hw.is_gpu & compiles, est.GPU_COMPILE_S, 0.0)
    train_s = est.train_seconds(wanted, tps, job.max_train_minutes * 60.0, warmup)
    tokens = np.maximum(train_s - warmup, 0.0) * tps
    provision = np.where(side.clouds != "local", est.PROVISION_HOURS_CLOUD, 0.0)
    synth_hours = np.broadcast_to(np.asarray(syn.hours, dtype=float), side.prices.shape)
    hours = est.train_hours(train_s, side.spot, provision, synthesis_h=synth_hours)
    api_usd = syn.usd if api is not None else 0.0
    kept = kept_storage_usd(t.id, s.id, job, side.clouds, nodes, hours, request.constraints.serving_hours)
    cost = hours * price_n + api_usd + kept
    pred = predict(request.task_name, t, s, job, mode, coverage, tokens, hw.is_gpu, request.key)
    idx = np.flatnonzero(ok)
    if prune:
        idx = _prune(idx, np.stack([cost[idx], hours[idx], -pred.mean[idx]], axis=1), side.clouds[idx])
    synth_usd = np.broadcast_to(np.asarray(syn.usd, dtype=float), side.prices.shape)  # API bill, or node hours
    return TrainPhase(idx, cost[idx], hours[idx], synth_hours[idx], synth_usd[idx], pred.mean[idx], pred.low[idx],
                      pred.high[idx], pred.prior[idx], tokens[idx], kept[idx], nodes[idx])


def local_rate(s: ModelSpec, lora: bool, kd_p: float, side: Offers, job: JobSettings,
               request_key: str | None = None) -> np.ndarray:
    """Training tokens/s per offering: the estimator's, except on this machine, where a full
    (not LoRA, no KD) training is priced at the host's measured rate for the job's thread count
    (``host_rate``; ``request_key``'s own runs left out), and the estimate is scaled to those
    threads where nothing was measured."""
    tps = np.broadcast_to(np.asarray(est.train_tokens_per_s(s.params, side.hw, lora, kd_p), dtype=float),
                          side.clouds.shape)
    local = np.flatnonzero(side.clouds == "local")
    if not len(local):
        return tps
    i, vcpus = int(local[0]), side.offs[int(local[0])].vcpus
    if lora or kd_p:
        rate = float(tps[i]) * host_rate.thread_share(job.threads, vcpus)
    else:
        rate, _ = host_rate.local_tokens_per_s(s.params, job.threads, float(tps[i]), vcpus, request_key)
    return np.where(side.clouds == "local", rate, tps)


def _synthesis(
    t: ModelSpec, mode: str, coverage: float, side: Offers, price_n: np.ndarray,
    api: tuple[float, float] | None, request: DistillationRequest, job: JobSettings,
) -> est.Synthesis:
    """The teacher's work in the job, sized from the task's examples (not the serving latency settings):
    the probe, the rationales it writes, and its zero-shot evaluation. In injection mode each rationale
    request also carries the task's background text. A local teacher on this machine is timed at the
    seconds per call earlier runs measured here (``teacher_time``) where there are any."""
    written, bare = teacher_work(job, mode, coverage)
    prompt = teacher_prompt_tokens(request.task_ref, job.target_style, mode, written, bare)
    target = example_tokens(request.task_ref, job.target_style, word_level=False).target
    syn = est.synthesis_estimate(
        written + bare, prompt, min(target, job.teacher_max_new_tokens), api_usd_per_m=api,
        teacher_params=t.params, hw=side.hw, usd_per_hour=price_n,
    )
    per_call = None if api is not None else teacher_time.seconds_per_call(
        t.id, job.threads, job.teacher_max_new_tokens, request_key=request.key)
    if per_call is None or not (side.clouds == "local").any():
        return syn
    hours = np.where(side.clouds == "local", syn.calls * per_call / 3600.0, syn.hours)
    return replace(syn, hours=hours, usd=hours * price_n)


def teacher_work(job: JobSettings, mode: str, coverage: float) -> tuple[float, int]:
    """The teacher's calls in a job: the rationales it writes, and the bare questions it answers
    (its probe and its zero-shot evaluation)."""
    return (est.teacher_calls(job.n_train, mode, coverage, job.rationale_budget),
            job.probe_questions + job.teacher_eval_questions)


def node_counts(
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


def kept_storage_usd(
    teacher: str, student: str, job: JobSettings, clouds: np.ndarray, nodes: np.ndarray, hours: np.ndarray,
    serving_hours: float,
) -> np.ndarray:
    """Training disks (kept while the stack lives, the nodes stopped) and the bucket's artifact and data."""
    n_ex = job.n_train + job.n_val + job.n_test
    disk_gb = storage.training_disk_gb(teacher, student, n_ex) * nodes
    kept_gb = storage.artifact_gb(student) + storage.data_gb(n_ex)
    months = (np.asarray(hours, dtype=float) + serving_hours) / storage.HOURS_PER_MONTH
    return months * (per_cloud(clouds, storage.DISK_USD_PER_GB_MONTH) * disk_gb
                     + per_cloud(clouds, storage.BUCKET_USD_PER_GB_MONTH) * kept_gb)


def predict(task: str, t: ModelSpec, s: ModelSpec, job: JobSettings, mode: str, coverage: float,
            tokens: np.ndarray, is_gpu: np.ndarray, request_key: str | None = None) -> Prediction:
    """The accuracy model (fitted on the calibration rows and the user's measured runs) for one
    pair and mode over every offering. In injection mode the teacher writes rationales for up to
    ``rationale_budget`` questions; its acceptance rate (measured in earlier runs, else a prior
    by size) sets how much a weak one hurts. A teacher's probe accuracy measured in earlier runs
    replaces the zoo's prior coverage. Runs of ``request_key`` itself are left out (see
    ``calibration.read_points``)."""
    measured = calibration.probe_accuracy(t.id, task, request_key=request_key)
    coverage = coverage if measured is None else measured
    acceptance, _ = calibration.rationale_acceptance(t.id, t.params, coverage, task, request_key=request_key)
    share = min(job.rationale_budget, job.n_train) / job.n_train if mode == "injection" else 0.0
    model = model_for(task, calibration.accuracy_rows(task, request_key=request_key))
    return model.predict_many(s.params, tokens, mode, coverage, teacher_share=share, acceptance=acceptance,
                              is_gpu=is_gpu, pretrained=not s.is_scratch)
