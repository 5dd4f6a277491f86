"""The training loop: packed completion-only SFT (+ optional logit KD), resumable, DDP-ready.

Run recipes (the job calls ``train``; these show the processes it supports)::

    stratos distill --config plan.json --out runs/x                 # one process
    torchrun --nproc_per_node 8 -m stratos.distill --config plan.json --out runs/x   # all GPUs of a node

Under torchrun each process takes its own GPU (``job.device``, see ``stratos.device``) and
``stratos.distill.parallel`` picks DDP or FSDP2 sharding, the rule the planner priced.

Determinism: the data order is a pure function of (seed, step): global batch
``k`` is blocks ``order[k*B:(k+1)*B]`` of an endless sequence of per-epoch
permutations. So "data position" is just the step, a resumed run sees exactly
the batches the uninterrupted one would, and N processes each take every N-th
block of the same global batch. The loss is summed over tokens and divided by
the global batch's token count, so 1 and N processes compute the same gradient.

Why not ``transformers.Trainer`` here: this loop is a few hundred lines we can
read top to bottom, resumes bit-exactly, and is faster on 2 CPU cores (see
``benchmarks/distill_bench.py``); ``kd_trainer.KDTrainer`` offers the same loss
inside the HF Trainer for users who want its ecosystem.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from stratos.device import bf16_supported, prepare, resolve_device
from stratos.distill import parallel, preemption
from stratos.distill.checkpoint import load_latest, rng_state, save_checkpoint, set_rng_state
from stratos.distill.config import DistillConfig
from stratos.distill.losses import kd_divergence_sum, token_ce_sum
from stratos.distill.packing import IGNORE, Blocks, model_inputs

# Steps timed to fit the step budget: 10 < step <= 60 first (8 steps misjudged it by 15%),
# then 60 < step <= 500 (steps 10-60 still ran 7% slower than the run's average, which
# left a 15-minute budget 1 minute short; at step 500 the cosine LR has barely moved).
FITS = ((10, 60), (60, 500))
ProgressFn = Callable[[dict[str, Any]], None]
EvalFn = Callable[[Any], float]  # model -> validation accuracy in [0, 1]


@dataclass
class TrainResult:
    steps: int
    total_steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val: float | None = None
    stopped: str = "steps"
    train_seconds: float = 0.0
    tokens: int = 0
    model: Any = None  # rank 0 of a sharded run: the trained weights in a plain (unsharded) module
    flops: float = 0.0  # 6 x parameters x tokens
    fit_tokens_per_s: float | None = None  # measured over the first fit's steps (the host check)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_seconds if self.train_seconds else 0.0


def dist_info() -> tuple[int, int]:
    """(rank, world size), initialising the process group under torchrun: NCCL for CUDA
    tensors where CUDA is present, gloo for CPU tensors (the step-budget and stop broadcasts)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if torch.cuda.is_available():  # before any collective: NCCL's barrier uses the current GPU
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if world > 1 else (0, 1)


def leave_group() -> None:
    """Tear down the process group ``dist_info`` started. A rank that exits with it alive leaves
    gloo's threads to the interpreter's exit, which can abort the process ("terminate called
    without an active exception", SIGABRT) and fail a run whose training finished."""
    if dist.is_initialized():
        dist.destroy_process_group()


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def batch_indices(step: int, n_blocks: int, batch: int, seed: int) -> list[int]:
    """Block indices of global batch ``step`` (endless per-epoch permutations)."""
    out: list[int] = []
    start = step * batch
    while len(out) < batch:
        epoch, offset = divmod(start + len(out), n_blocks)
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n_blocks, generator=g)
        take = min(batch - len(out), n_blocks - offset)
        out.extend(perm[offset : offset + take].tolist())
    return out


@torch.no_grad()
def val_loss(model: Any, blocks: Blocks, micro: int) -> float:
    """Mean completion-token loss (the training objective, weights included) over all validation blocks."""
    model.eval()
    dev = next(model.parameters()).device
    tot, n = 0.0, 0
    for i in range(0, len(blocks), micro):
        ids, pos, lab = (t[i : i + micro].to(dev) for t in (blocks.input_ids, blocks.position_ids, blocks.labels))
        out = model(**model_inputs(ids, pos))
        w = None if blocks.weights is None else blocks.weights[i : i + micro].to(dev)
        s, c = token_ce_sum(out.logits, lab, w)
        tot, n = tot + float(s), n + int(c)
    model.train()
    return tot / max(1, n)


@dataclass
class TrainState:
    """Where training stands; saved whole in every checkpoint, so a resume continues exactly."""

    total_steps: int  # the step budget: max_steps until FITS fit it to the time cap
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None  # best validation metric (accuracy, or -loss without an evaluator)
    best_state: dict[str, torch.Tensor] | None = None
    bad_evals: int = 0  # validation passes in a row without improvement
    train_seconds: float = 0.0
    tokens: int = 0
    fitted: int = 0  # how many of FITS have run
    fit_marks: dict[int, float] = field(default_factory=dict)  # train_seconds at each fit's start step
    fit_tokens_per_s: float | None = None  # the rate the first fit measured (steps 10-60)

    def saved(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @classmethod
    def restored(cls, ck: dict[str, Any]) -> TrainState:
        return cls(**{f: ck[f] for f in cls.__dataclass_fields__ if f in ck})

    def result(self, stopped: str, params: int) -> TrainResult:
        return TrainResult(self.step, self.total_steps, self.history, self.best, stopped, self.train_seconds,
                           self.tokens, flops=train_flops(params, self.tokens), fit_tokens_per_s=self.fit_tokens_per_s)


def train_flops(params: int, tokens: int) -> float:
    """Training compute, FLOPs: 6 x parameters x tokens (2 forward + 4 backward per weight and token)."""
    return 6.0 * params * tokens


def step_cap(cfg: DistillConfig, params: int, blocks: Blocks) -> tuple[int, str]:
    """The most steps allowed and the cap that sets it (``epochs``, ``steps`` or ``flops``).

    The tokens come from ``cfg.train_token_cap``, the rule the planner prices; a step trains
    ``batch_blocks`` blocks holding, on average, the mean real (unpadded) tokens of ``blocks``.
    """
    data_tokens = int((blocks.position_ids >= 0).sum())
    block_tokens = data_tokens / max(len(blocks), 1)
    tokens, binds = cfg.train_token_cap(data_tokens, params, block_tokens)
    return max(1, int(tokens / (block_tokens * cfg.batch_blocks) + 1e-6)), binds


def train(
    model: Any,
    train_blocks: Blocks,
    val_blocks: Blocks,
    cfg: DistillConfig,
    ckpt_dir: str | Path,
    *,
    evaluate: EvalFn | None = None,
    teacher_model: Any = None,
    progress: ProgressFn | None = None,
    strategy: parallel.Strategy | None = None,
) -> TrainResult:
    """Train ``model`` in place; resumes from ``ckpt_dir`` when it holds a checkpoint.

    ``model`` (and ``teacher_model``) move to ``cfg.device``; ``strategy`` (default: what
    ``parallel.job_strategy`` decides for these devices) says whether it is replicated or
    sharded. A sharded run validates by loss only (decoding on rank 0 alone would wait for
    the other ranks' shards) and returns the trained weights unsharded in ``result.model``.

    Each step: one global batch (``train_step``), the step budget fitted to the time cap
    (``fit_step_budget``), validation every ``eval_every`` steps (``validate``), then the
    stop rules (``stop_reason``: early stopping, or a machine that got slower).
    """
    rank, world = dist_info()
    torch.set_num_threads(cfg.threads)
    if cfg.batch_blocks % world:
        raise ValueError(f"batch_blocks={cfg.batch_blocks} must be divisible by the number of processes ({world})")
    params = sum(p.numel() for p in model.parameters())  # before wrapping: FSDP shards them
    cap, cap_reason = step_cap(cfg, params, train_blocks)
    _, strategy, wrapped, plain = _place(model, teacher_model, cfg, strategy, rank, world)
    evaluate = None if strategy.sharded else evaluate
    opt, sched, state = _optimizer(model, cfg, cap)  # after wrapping: FSDP replaces the parameters
    torch.manual_seed(cfg.seed)
    s, ck = TrainState(cap), load_latest(ckpt_dir)
    if ck is not None:
        s = _resume(ck, model, opt, sched, strategy)
        if ck.get("done"):
            return _finish(s, ck["stopped"], params, model, plain, strategy)
    state["total_steps"] = s.total_steps  # the LR schedule reads the (refitted) budget
    net = compiled(wrapped) if cfg.compiles(cfg.is_scratch) else wrapped
    model.train()

    def checkpoint(done: bool = False, stopped: str = "") -> None:
        weights, optim = parallel.full_state(model, opt, strategy)  # collective when sharded
        if rank == 0:
            _save(ckpt_dir, s, model, opt, sched, cfg, done=done, stopped=stopped, weights=weights, optim=optim)
        barrier(world)

    stopped, budget_s = "steps", cfg.max_train_minutes * 60
    preemption.defer()  # SIGTERM (spot notice, shutdown) now stops at a step boundary, checkpointed
    clock = time.perf_counter()
    while s.step < s.total_steps:
        loss = train_step(net, wrapped, train_blocks, s, cfg, teacher_model, rank, world, strategy)
        rec: dict[str, Any] = {"step": s.step + 1, "loss": loss, "lr": _apply(opt, sched)}
        s.step += 1
        s.train_seconds, clock = _tick(s.train_seconds, clock)
        fitted = s.fitted
        fit_step_budget(s, cap, budget_s, world, cfg.eval_every)
        if fitted == 0 and s.fitted == 1 and s.fit_tokens_per_s:
            rec["fit_tokens_per_s"] = s.fit_tokens_per_s
        state["total_steps"] = s.total_steps
        last = s.step >= s.total_steps
        if s.step % cfg.eval_every == 0 or last:
            rec.update(validate(s, model, val_blocks, cfg, evaluate, rank, strategy))
        s.train_seconds, clock = _tick(s.train_seconds, clock)  # validation counts (a checkpoint: in the next step)
        s.history.append(rec)
        if progress is not None and rank == 0:
            progress({**rec, "progress": s.step / s.total_steps, "total_steps": s.total_steps})
        why = stop_reason(s, cfg, budget_s, world)
        if why == "preempted":
            checkpoint()
            preemption.exit_now(s.step)
        stopped = why or (cap_reason if last and s.total_steps == cap else stopped)
        if why or last:
            break
        if s.step % cfg.ckpt_every == 0:
            checkpoint()

    if s.best_state is not None:
        parallel.load_state(model, s.best_state, strategy)
    checkpoint(done=True, stopped=stopped)
    preemption.restore()
    return _finish(s, stopped, params, model, plain, strategy)


def step_rate(model: Any, blocks: Blocks, cfg: DistillConfig, steps: int, warmup: int = 2) -> float:
    """Training tokens/s of the job's own step (``train_step`` + optimiser, placed, precision and
    compilation as ``cfg`` says) over ``steps`` steps after ``warmup`` untimed ones; nothing is saved.

    The planner's speed probe (``stratos.distill.speed_probe``) prices a host no job has run on yet with it.
    """
    torch.set_num_threads(cfg.threads)
    _, strategy, wrapped, _ = _place(model, None, cfg, None, 0, 1)
    opt, sched, _ = _optimizer(model, cfg, warmup + steps)
    net = compiled(wrapped) if cfg.compiles(cfg.is_scratch) else wrapped
    model.train()
    s = TrainState(warmup + steps)
    for k in range(warmup + steps):
        if k == warmup:
            t0, tokens0 = time.perf_counter(), s.tokens
        train_step(net, wrapped, blocks, s, cfg, None, 0, 1, strategy)
        _apply(opt, sched)
        s.step += 1
    return (s.tokens - tokens0) / max(time.perf_counter() - t0, 1e-9)


def _place(model: Any, teacher_model: Any, cfg: DistillConfig, strategy: parallel.Strategy | None, rank: int,
           world: int) -> tuple[Any, parallel.Strategy, Any, Any]:
    """(device, strategy, the wrapped model, rank 0's plain copy when sharded): the student and the
    KD teacher on ``cfg.device``, replicated or sharded as the strategy (default: the job's) says."""
    dev = prepare(resolve_device(cfg.device, setting="job.device"))
    strategy = strategy or parallel.job_strategy(model, teacher_model, dev, world)
    plain = parallel.plain_copy(model) if strategy.sharded and rank == 0 else None
    model.to(dev)
    if teacher_model is not None:
        teacher_model.to(dev)
    return dev, strategy, parallel.wrap(model, teacher_model, strategy, dev), plain


def _apply(opt: Any, sched: Any) -> float:
    """One optimiser and schedule step; returns the learning rate the next step uses."""
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return sched.get_last_lr()[0]


def _finish(s: TrainState, stopped: str, params: int, model: Any, plain: Any, strategy: parallel.Strategy) -> TrainResult:
    """The result; a sharded run gathers its weights (every rank) into rank 0's plain copy."""
    result = s.result(stopped, params)
    if strategy.sharded:
        weights, _ = parallel.full_state(model, None, strategy)
        if plain is not None:
            plain.load_state_dict(weights)
            result.model = plain
    return result


def _resume(ck: dict[str, Any], model: Any, opt: Any, sched: Any, strategy: parallel.Strategy) -> TrainState:
    """Model, optimiser, schedule and RNG as the checkpoint left them (best weights if it was final)."""
    parallel.load_state(model, ck["model"], strategy, opt=opt, optim=ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])
    set_rng_state(ck["rng"])
    s = TrainState.restored(ck)
    if ck.get("done") and s.best_state is not None:
        parallel.load_state(model, s.best_state, strategy)
    return s


def _save(ckpt_dir: str | Path, s: TrainState, model: Any, opt: Any, sched: Any, cfg: DistillConfig, *,
          done: bool, stopped: str, weights: dict[str, Any] | None = None, optim: dict[str, Any] | None = None) -> None:
    """A self-describing checkpoint: weights (LoRA: the adapter only), optimiser, RNG, state, config.

    ``weights``/``optim``: a sharded run's gathered full state (else read from ``model``/``opt``)."""
    if weights is None:
        weights = model.state_dict()
    if _is_peft(model):
        trainable = {k for k, v in model.named_parameters() if v.requires_grad}
        weights = {k: v for k, v in weights.items() if k in trainable}
    save_checkpoint(ckpt_dir, s.step, {
        "model": weights, "optimizer": optim if optim is not None else opt.state_dict(),
        "scheduler": sched.state_dict(), "rng": rng_state(),
        **s.saved(), "done": done, "stopped": stopped, "config": cfg.model_dump(mode="json"),
    })


def _optimizer(model: Any, cfg: DistillConfig, cap: int) -> tuple[Any, Any, dict[str, int]]:
    """Fused AdamW (no decay on norms and biases) and the warm-up + cosine schedule.

    The schedule reads the step budget from the returned dict, which the caller keeps
    current as the budget is refitted.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device.type
    opt = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=cfg.peak_lr,
        betas=(0.9, 0.95),
        fused=device in ("cpu", "cuda"),  # one kernel for all parameters instead of a dozen ops each
    )
    state = {"total_steps": cap}
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: lr_factor(k, cfg.warmup_steps, state["total_steps"], cfg.min_lr_ratio)
    )
    return opt, sched, state


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def train_step(
    net: Any, wrapped: Any, blocks: Blocks, s: TrainState, cfg: DistillConfig, teacher_model: Any, rank: int,
    world: int, strategy: parallel.Strategy | None = None,
) -> float:
    """Forward/backward over this rank's share of global batch ``s.step``; the batch's mean CE loss.

    The loss is summed over tokens and divided by the global batch's token count, so 1 and
    N processes compute the same gradient; gradients sync only on the last micro-batch.
    """
    B, micro = cfg.batch_blocks, min(cfg.micro_blocks, cfg.batch_blocks)
    strategy = strategy or parallel.Strategy("ddp" if world > 1 else "single", world, 0.0)
    dev = next(p for p in net.parameters() if p.requires_grad).device
    device = dev.type
    idx = batch_indices(s.step, len(blocks), B, cfg.seed)
    n_tok = int((blocks.labels[idx][:, 1:] != IGNORE).sum())
    mine = idx[rank::world]
    loss_sum = torch.zeros((), device=dev)
    for m in range(0, len(mine), micro):
        sl = mine[m : m + micro]
        s.tokens += int((blocks.position_ids[sl] >= 0).sum()) * world
        ids, pos, lab = (t[sl].to(dev, non_blocking=True) for t in (blocks.input_ids, blocks.position_ids, blocks.labels))
        wts = None if blocks.weights is None else blocks.weights[sl].to(dev, non_blocking=True)
        sync = m + micro >= len(mine)
        with parallel.no_sync(wrapped, strategy, sync):
            with autocast(cfg.precision, device):
                out = net(**model_inputs(ids, pos))
                ce, _ = token_ce_sum(out.logits, lab, wts)
                loss = ce if teacher_model is None else _with_kd(ce, out.logits, teacher_model, ids, pos, lab, cfg)
            (loss * world / max(1, n_tok)).backward()
        loss_sum += ce.detach()
    if world > 1:
        dist.all_reduce(loss_sum)
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], cfg.grad_clip)
    return float(loss_sum) / max(1, n_tok)


def _with_kd(ce: Any, logits: Any, teacher_model: Any, ids: Any, pos: Any, lab: Any, cfg: DistillConfig) -> Any:
    """``kd_alpha`` x CE + (1 - ``kd_alpha``) x the KD divergence to the teacher's logits."""
    with torch.no_grad():
        t_logits = teacher_model(**model_inputs(ids, pos)).logits
    kd = kd_divergence_sum(logits, t_logits, lab, temperature=cfg.kd_temperature, divergence=cfg.kd_divergence)
    return cfg.kd_alpha * ce + (1 - cfg.kd_alpha) * kd


def fit_step_budget(s: TrainState, max_steps: int, budget_s: float, world: int, eval_every: int = 0) -> None:
    """Fit ``s.total_steps`` to the time budget once the speed is known, then refine it (``FITS``),
    and again after every validation pass (each ``eval_every`` steps).

    Just past warm-up the LRs already used hardly depend on the budget. The first steps pay
    one-off costs (thread pools, allocator warm-up), so each fit times only the steps since
    its start mark. ``train_seconds`` is wall time: validation passes and checkpoints come
    out of the same cap, so the refits after a validation pass, timed from the last fit's
    mark, spread their cost over the steps and the job ends at its cap. Rank 0's timing is
    broadcast: every rank stops at the same step.
    """
    for k, (fit_from, fit_at) in enumerate(FITS):
        if s.step == fit_from:
            s.fit_marks[k] = s.train_seconds
        if s.fitted == k and s.step == min(fit_at, s.total_steps):
            per_step = _fit(s, k, max_steps, budget_s, world)
            if k == 0:
                s.fit_tokens_per_s = s.tokens / s.step / max(per_step, 1e-9)
            s.fitted = k + 1
    if eval_every and s.fitted == len(FITS) and s.step > FITS[-1][1] and (s.step - 1) % eval_every == 0:
        _fit(s, len(FITS) - 1, max_steps, budget_s, world)


def _fit(s: TrainState, k: int, max_steps: int, budget_s: float, world: int) -> float:
    """Set ``s.total_steps`` so the remaining budget holds the remaining steps at the seconds per
    step since fit ``k``'s start mark (over the whole run when the mark is missing); returns those seconds."""
    fit_from, t_from = FITS[k][0], s.fit_marks.get(k)
    per_step = torch.tensor(
        (s.train_seconds - t_from) / (s.step - fit_from)
        if t_from is not None and s.step > fit_from else s.train_seconds / s.step
    )
    if world > 1:
        dist.broadcast(per_step, 0)
    fit = int((budget_s - s.train_seconds) / float(per_step)) + s.step
    s.total_steps = max(s.step, min(max_steps, fit))
    return float(per_step)


def _tick(seconds: float, since: float) -> tuple[float, float]:
    """(``seconds`` plus the wall time since ``since``, now): the training clock's one reading."""
    now = time.perf_counter()
    return seconds + now - since, now


def validate(
    s: TrainState, model: Any, val_blocks: Blocks, cfg: DistillConfig, evaluate: EvalFn | None, rank: int,
    strategy: parallel.Strategy | None = None,
) -> dict[str, float]:
    """Validation loss (and accuracy from ``evaluate`` on rank 0); keeps the best weights.

    Patience counts passes where neither the task metric nor the validation loss improved:
    early on, accuracy on a small validation set sits near 0 and is noise while the loss is
    still falling fast, and stopping then wastes the budget.
    """
    vl = val_loss(model, val_blocks, min(cfg.micro_blocks, cfg.batch_blocks))
    rec = {"val_loss": vl}
    metric = -vl
    if evaluate is not None and rank == 0:
        metric = rec["val_accuracy"] = evaluate(model)
        model.train()
    best_loss = min((r["val_loss"] for r in s.history if "val_loss" in r), default=None)
    improved = s.best is None or metric > s.best or best_loss is None or vl < best_loss
    if s.best is None or metric >= s.best:  # ties keep the later (lower-loss) weights
        s.best, s.best_state = metric, parallel.trainable_state(model, strategy)
    s.bad_evals = 0 if improved else s.bad_evals + 1
    return rec


STOP_REASONS = (None, "early_stopping", "time", "preempted")


def stop_reason(s: TrainState, cfg: DistillConfig, budget_s: float, world: int) -> str | None:
    """Why training stops now, or None: early stopping after ``patience`` bad passes, 15% over
    the time cap (the machine got slower than measured), or a SIGTERM (``preemption``: the
    caller checkpoints and exits). Rank 0 decides for every rank."""
    why = None
    if preemption.requested():
        why = "preempted"
    elif cfg.patience and s.bad_evals >= cfg.patience:
        why = "early_stopping"
    elif s.train_seconds > budget_s * 1.15:
        why = "time"
    code = torch.tensor(STOP_REASONS.index(why))
    if world > 1:
        dist.broadcast(code, 0)
    return STOP_REASONS[int(code)]


def compiled(net: Any) -> Any:
    """``net`` compiled by inductor for the training steps, eager wherever compiling fails.

    Why: a 3M-parameter model on CPU spends most of a step in per-op overhead and
    small elementwise kernels (norms, rotary, SiLU, softmax) that inductor fuses.
    Only training steps use it (one fixed batch shape, one compile); validation
    and generation run the plain module, so their changing shapes never recompile.
    ``suppress_errors`` is dynamo's own fallback: a machine without a C++ compiler
    trains eagerly instead of failing.
    """
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    return torch.compile(net)


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``bf16`` or ``fp32``: what ``auto`` means on this ``device``."""
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def autocast(precision: str, device: str = "cpu") -> Any:
    """The autocast context for ``precision`` on ``device`` (a no-op context for fp32)."""
    if resolve_precision(precision, device) == "fp32":
        return nullcontext()
    return torch.autocast(device, dtype=torch.bfloat16)


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config")
