"""The training loop: packed completion-only SFT (+ optional logit KD), resumable, DDP-ready.

Run recipes (the job calls ``train``; these show the processes it supports)::

    stratos distill --config plan.json --out runs/x                 # one process
    torchrun --nproc_per_node 2 -m stratos.distill --config plan.json --out runs/x   # DDP, gloo on CPU

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

import functools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from stratos.distill import preemption
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

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_seconds if self.train_seconds else 0.0


def dist_info() -> tuple[int, int]:
    """(rank, world size), initialising the gloo process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), dist.get_world_size()) if world > 1 else (0, 1)


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
    tot, n = 0.0, 0
    for i in range(0, len(blocks), micro):
        out = model(**model_inputs(blocks.input_ids[i : i + micro], blocks.position_ids[i : i + micro]))
        w = None if blocks.weights is None else blocks.weights[i : i + micro]
        s, c = token_ce_sum(out.logits, blocks.labels[i : i + micro], w)
        tot, n = tot + float(s), n + int(c)
    model.train()
    return tot / max(1, n)


def _trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


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
) -> TrainResult:
    """Train ``model`` in place; resumes from ``ckpt_dir`` when it holds a checkpoint."""
    rank, world = dist_info()
    torch.set_num_threads(cfg.threads)
    B, micro = cfg.batch_blocks, min(cfg.micro_blocks, cfg.batch_blocks)
    if B % world:
        raise ValueError(f"batch_blocks={B} must be divisible by the number of processes ({world})")
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device.type
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
        fused=device in ("cpu", "cuda"),  # one kernel for all parameters instead of a dozen ops each
    )
    state: dict[str, Any] = {"total_steps": cfg.max_steps}
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, cfg.warmup_steps, state["total_steps"], cfg.min_lr_ratio)
    )
    torch.manual_seed(cfg.seed)
    step, history, best, best_state, bad_evals = 0, [], None, None, 0
    train_seconds, tokens = 0.0, 0
    fitted, fit_marks = 0, {}  # how many of FITS have run; train_seconds at each fit's start step
    ck = load_latest(ckpt_dir)
    if ck is not None:
        model.load_state_dict(ck["model"], strict=False)
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        set_rng_state(ck["rng"])
        step, history, best, bad_evals = ck["step"], ck["history"], ck["best"], ck["bad_evals"]
        best_state, train_seconds, tokens = ck["best_state"], ck["train_seconds"], ck["tokens"]
        state["total_steps"], fitted = ck["total_steps"], int(ck["fitted"])
        fit_marks = dict(ck.get("fit_marks", {}))
        if ck.get("done"):
            if best_state is not None:
                model.load_state_dict(best_state, strict=False)
            return TrainResult(step, state["total_steps"], history, best, ck["stopped"], train_seconds, tokens)

    ddp = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp = DDP(model)
    net = compiled(ddp) if cfg.compiles else ddp
    model.train()

    def checkpoint(done: bool = False, stopped: str = "") -> None:
        if rank == 0:
            save_checkpoint(
                ckpt_dir,
                step,
                {
                    "model": model.state_dict() if not _is_peft(model) else _trainable_state(model),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng": rng_state(),
                    "step": step,
                    "total_steps": state["total_steps"],
                    "fitted": fitted,
                    "fit_marks": fit_marks,
                    "history": history,
                    "best": best,
                    "best_state": best_state,
                    "bad_evals": bad_evals,
                    "train_seconds": train_seconds,
                    "tokens": tokens,
                    "done": done,
                    "stopped": stopped,
                    "config": cfg.model_dump(mode="json"),
                },
            )
        if world > 1:
            dist.barrier()

    stopped = "steps"
    budget_s = cfg.max_train_minutes * 60
    preemption.defer()  # SIGTERM (spot notice, shutdown) now stops at a step boundary, checkpointed
    while step < state["total_steps"]:
        t0 = time.perf_counter()
        idx = batch_indices(step, len(train_blocks), B, cfg.seed)
        n_tok = int((train_blocks.labels[idx][:, 1:] != IGNORE).sum())
        mine = idx[rank::world]
        loss_sum = torch.zeros(())
        for m in range(0, len(mine), micro):
            sl = mine[m : m + micro]
            ids, pos, lab = train_blocks.input_ids[sl], train_blocks.position_ids[sl], train_blocks.labels[sl]
            wts = None if train_blocks.weights is None else train_blocks.weights[sl]
            sync = m + micro >= len(mine)
            ctx = ddp.no_sync() if (world > 1 and not sync) else _null()
            with ctx:
                with autocast(cfg.precision, device):
                    out = net(**model_inputs(ids, pos))
                    ce, _ = token_ce_sum(out.logits, lab, wts)
                    loss = ce
                    if teacher_model is not None:
                        with torch.no_grad():
                            t_logits = teacher_model(**model_inputs(ids, pos)).logits
                        kd = kd_divergence_sum(
                            out.logits, t_logits, lab, temperature=cfg.kd_temperature, divergence=cfg.kd_divergence
                        )
                        loss = cfg.kd_alpha * ce + (1 - cfg.kd_alpha) * kd
                (loss * world / max(1, n_tok)).backward()
            loss_sum += ce.detach()
            tokens += int((pos >= 0).sum()) * world
        if world > 1:
            dist.all_reduce(loss_sum)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        train_seconds += time.perf_counter() - t0
        train_loss = float(loss_sum) / max(1, n_tok)
        rec: dict[str, Any] = {"step": step, "loss": train_loss, "lr": sched.get_last_lr()[0]}

        # Fit the step budget to the time cap once the speed is known (just past warm-up, so the
        # LRs already used hardly depend on it), then refine it. Stored in the checkpoint: resumes keep it.
        for k, (fit_from, fit_at) in enumerate(FITS):
            if step == fit_from:
                fit_marks[k] = train_seconds
            if fitted == k and step == min(fit_at, state["total_steps"]):
                # the first steps pay one-off costs (thread pools, allocator warm-up): time the later ones
                t_from = fit_marks.get(k)
                per_step = torch.tensor(
                    (train_seconds - t_from) / (step - fit_from) if t_from is not None and step > fit_from else train_seconds / step
                )
                if world > 1:
                    dist.broadcast(per_step, 0)
                fit = int((budget_s - train_seconds) / float(per_step)) + step
                state["total_steps"] = max(step, min(cfg.max_steps, fit))
                fitted = k + 1

        last = step >= state["total_steps"]
        if step % cfg.eval_every == 0 or last:
            vl = val_loss(model, val_blocks, micro)
            rec["val_loss"] = vl
            metric = -vl
            if evaluate is not None and rank == 0:
                acc = evaluate(model)
                model.train()
                rec["val_accuracy"] = acc
                metric = acc
            # Patience counts passes where neither the task metric nor the validation loss
            # improved: early on, accuracy on a small validation set sits near 0 and is noise
            # while the loss is still falling fast, and stopping then wastes the budget.
            best_loss = min((r["val_loss"] for r in history if "val_loss" in r), default=None)
            improved = best is None or metric > best or best_loss is None or vl < best_loss
            if best is None or metric >= best:  # ties keep the later (lower-loss) weights
                best, best_state = metric, _trainable_state(model)
            bad_evals = 0 if improved else bad_evals + 1
        history.append(rec)
        if progress is not None and rank == 0:
            progress({**rec, "progress": step / state["total_steps"], "total_steps": state["total_steps"]})

        stop = torch.tensor(0)
        if cfg.patience and bad_evals >= cfg.patience:
            stop, stopped = torch.tensor(1), "early_stopping"
        elif train_seconds > budget_s * 1.15:  # the machine got slower than measured: keep the cap
            stop, stopped = torch.tensor(1), "time"
        if preemption.requested():
            stop = torch.tensor(2)  # rank 0's notice stops every rank at this step (broadcast below)
        if world > 1:
            dist.broadcast(stop, 0)
        if int(stop) == 2:
            checkpoint()
            preemption.exit_now(step)
        if int(stop) or last:
            break
        if step % cfg.ckpt_every == 0:
            checkpoint()

    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    checkpoint(done=True, stopped=stopped)
    preemption.restore()
    return TrainResult(step, state["total_steps"], history, best, stopped, train_seconds, tokens)


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
        return _null()
    return torch.autocast(device, dtype=torch.bfloat16)


@functools.lru_cache(maxsize=4)
def bf16_supported(device: str = "cpu") -> bool:
    """True where bf16 matmuls run on dedicated units (faster than fp32), not emulated."""
    if device == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None
