"""How a job spreads over its devices: one process, data parallel (DDP) or sharded (FSDP2).

Why one function: the planner prices a plan's memory and time with
``plan_parallelism`` and the job on the node calls the same function with the
devices it finds, so a plan that fits is a job that fits. The rule:

* 1 device: ``single``;
* the whole training state fits one device (within ``MEMORY_HEADROOM``, after
  ``RUNTIME_RESERVE_GB``): ``ddp``, every device holds a replica (no extra traffic
  beyond one gradient all-reduce per step);
* otherwise ``fsdp``: weights, gradients, optimiser state and a logit-KD teacher
  are sharded over all devices (``fully_shard``), each holding 1/N of them.

Memory model (bytes per parameter, what ``stratos.distill.train`` keeps):
full training 16 (fp32 weights, fp32 gradients, two fp32 Adam moments; bf16 only
inside autocast); LoRA 2 for the frozen bf16 base + 16 for ~1% adapter weights;
activations add ``ACTIVATION_FACTOR``; a KD teacher is 2 (bf16, inference only).
Every function accepts numpy arrays (the planner evaluates all offerings at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["single", "ddp", "fsdp"]

FULL_BYTES_PER_PARAM = 16.0
LORA_BYTES_PER_PARAM = 2.0 + 0.01 * 16.0
KD_TEACHER_BYTES_PER_PARAM = 2.0
ACTIVATION_FACTOR = 1.2  # activations of the training micro-batch, as a share of the state


@dataclass(frozen=True)
class Strategy:
    """How training uses ``devices`` devices and what each one holds (GB, reserve included)."""

    kind: Kind
    devices: int
    mem_gb_per_device: float

    @property
    def sharded(self) -> bool:
        return self.kind == "fsdp"


def training_state_gb(params: Any, lora: bool, kd_teacher_params: Any = 0.0) -> Any:
    """Unsharded training memory (GB): state x ``ACTIVATION_FACTOR`` + the KD teacher's weights."""
    per = LORA_BYTES_PER_PARAM if lora else FULL_BYTES_PER_PARAM
    return (per * np.asarray(params, dtype=float) * ACTIVATION_FACTOR
            + KD_TEACHER_BYTES_PER_PARAM * np.asarray(kd_teacher_params, dtype=float)) / 1e9


def plan_parallelism(
    params: Any, lora: bool, kd_teacher_params: Any, gpu_mem_gb: Any, devices: Any
) -> Strategy:
    """The strategy for training ``params`` on ``devices`` devices of ``gpu_mem_gb`` each.

    ``gpu_mem_gb=None`` (memory unknown) assumes sharding whenever ``devices`` > 1: the least
    each device can need. Array inputs give a ``Strategy`` whose fields are arrays.
    """
    from stratos.planner.estimators import MEMORY_HEADROOM, RUNTIME_RESERVE_GB

    state = training_state_gb(params, lora, kd_teacher_params)
    n = np.maximum(np.asarray(devices, dtype=float), 1.0)
    replicated = state + RUNTIME_RESERVE_GB
    sharded = state / n + RUNTIME_RESERVE_GB
    fits_one = np.zeros_like(n, dtype=bool) if gpu_mem_gb is None else (
        replicated <= MEMORY_HEADROOM * np.asarray(gpu_mem_gb, dtype=float))
    kind = np.where(n <= 1, "single", np.where(fits_one, "ddp", "fsdp"))
    mem = np.where(kind == "fsdp", sharded, replicated)
    if np.ndim(kind) == 0:
        return Strategy(str(kind), int(n), float(mem))
    return Strategy(kind, n.astype(int), mem)  # type: ignore[arg-type]


def count_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters()) if model is not None else 0


def job_strategy(model: Any, teacher_model: Any, device: Any, world: int) -> Strategy:
    """``plan_parallelism`` for the job's own model on the devices it runs on (``world`` processes)."""
    return plan_parallelism(
        count_params(model), hasattr(model, "peft_config"), count_params(teacher_model), device_memory_gb(device), world
    )


def device_memory_gb(device: Any) -> float:
    """Memory of one ``device`` (GB): the GPU's, or the host's RAM for the CPU."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_properties(dev).total_memory / 1e9
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9


def shard_units(model: Any) -> list[Any]:
    """The blocks FSDP shards one by one: modules of the classes the HF model declares unsplittable
    (``_no_split_modules``: its decoder layers), so one layer is gathered at a time."""
    names: set[str] = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


def wrap(model: Any, teacher_model: Any, strategy: Strategy, device: Any) -> Any:
    """The module the training steps call: ``model`` itself, DDP over it, or ``model`` sharded in place.

    Under FSDP a KD teacher is sharded too (the memory model counts it 1/N per device). On CUDA
    sharded parameters are gathered in bf16 (a LoRA model mixes a bf16 base with fp32 adapters,
    which FSDP can only gather in one dtype); gradients are reduced in fp32.
    """
    import torch

    if strategy.kind == "single":
        return model
    if strategy.kind == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        dev = torch.device(device)
        return DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    on_cuda = torch.device(device).type == "cuda"
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if on_cuda else MixedPrecisionPolicy()
    for net in (m for m in (teacher_model, model) if m is not None):
        for unit in shard_units(net):
            fully_shard(unit, mp_policy=mp)
        fully_shard(net, mp_policy=mp)
    return model


def no_sync(net: Any, strategy: Strategy, sync: bool) -> Any:
    """A context in which backward accumulates gradients without reducing them across ranks."""
    from contextlib import contextmanager, nullcontext

    if sync or strategy.kind == "single":
        return nullcontext()
    if strategy.kind == "ddp":
        return net.no_sync()

    @contextmanager
    def fsdp_no_sync() -> Any:
        net.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            net.set_requires_gradient_sync(True)

    return fsdp_no_sync()


def plain_copy(model: Any) -> Any:
    """A plain copy of ``model`` (same device, before sharding) that receives the gathered weights
    after training, so rank 0 can evaluate and export without the other ranks."""
    import copy

    return copy.deepcopy(model)


def full_state(model: Any, opt: Any, strategy: Strategy) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(model, optimiser) state dicts with full tensors on the CPU when ``strategy`` shards, else
    (None, None): callers read the module's own. Collective: every rank calls it; rank 0 gets them."""
    if not strategy.sharded:
        return None, None
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    if opt is None:
        return get_model_state_dict(model, options=options), None
    return get_state_dict(model, opt, options=options)


def load_state(model: Any, weights: dict[str, Any], strategy: Strategy | None, *, opt: Any = None,
               optim: dict[str, Any] | None = None) -> None:
    """Load full ``weights`` (and ``optim``) into ``model`` (and ``opt``), sharded or not; missing keys
    (a LoRA checkpoint holds only the adapter) keep their values. Collective when sharded; ranks
    other than 0 may pass empty dicts (rank 0's are broadcast)."""
    if strategy is None or not strategy.sharded:
        model.load_state_dict(weights, strict=False)
        if opt is not None:
            opt.load_state_dict(optim)
        return
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, strict=False, broadcast_from_rank0=opt is None)
    if opt is None:
        set_model_state_dict(model, weights, options=options)
    else:
        set_state_dict(model, opt, model_state_dict=weights, optim_state_dict=optim, options=options)


def trainable_state(model: Any, strategy: Strategy | None = None) -> dict[str, Any]:
    """Copies of the trained parameters (full tensors on rank 0 when sharded; collective then)."""
    names = {k for k, v in model.named_parameters() if v.requires_grad}
    if strategy is not None and strategy.sharded:
        weights, _ = full_state(model, None, strategy)
        return {k: v for k, v in (weights or {}).items() if k in names}
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


__all__ = [
    "Kind", "Strategy", "full_state", "job_strategy", "load_state", "no_sync", "plain_copy", "plan_parallelism",
    "trainable_state", "training_state_gb", "wrap",
]
