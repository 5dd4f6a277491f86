"""Estimators: pure functions from model facts + hardware facts to time, memory, money.

Each is a first-order roofline-style formula; its assumptions are in its docstring and
its constants are named here so a calibration can replace them. Units are in the names
(``_s``, ``_ms``, ``_gb``, ``_usd``, ``_h``). Nothing here reads files or the catalog.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stratos.catalog.local import READ_SIZES_MIB
from stratos.planner.hardware import Hardware

# Every function below also accepts numpy arrays for the hardware fields (a Hardware whose
# fields are arrays over offerings), so the planner evaluates all offerings in one call.

# --- constants (assumptions), named so they can be calibrated --------------------------
MFU_TRAIN_GPU = 0.35  # model-FLOPs utilisation of a well-tuned bf16 trainer on datacentre GPUs
MFU_TRAIN_CPU = 0.30  # fraction of the measured numpy matmul rate torch training reaches on CPU
MFU_PREFILL = 0.40  # prefill is one big batched matmul per layer
BW_EFFICIENCY = 0.60  # fraction of datasheet bandwidth decode kernels achieve
DECODE_FLOOR_MS_PER_LAYER_GPU = 0.02  # kernel launches etc. per layer per token (GPU)
DECODE_FLOOR_MS_GPU = 1.0  # scheduler/sampling per token (vLLM-like server)
DECODE_FLOOR_MS_CPU = 0.05  # per generated token on CPU, before serving_bench.py calibrate fits it
REQUEST_OVERHEAD_MS = 5.0  # HTTP + tokenisation + detokenisation per request
SERVE_CONCURRENCY = 16  # sequences whose KV cache must fit at once
RUNTIME_RESERVE_GB = 1.0  # CUDA context / framework per device
MEMORY_HEADROOM = 0.90  # plan to at most 90% of device memory
TEACHER_ACTIVATION_OVERHEAD = 1.1  # KV cache and activations of batched generation, over the weights
PROVISION_HOURS_CLOUD = 0.25  # boot, install, download weights, upload artifact
SPOT_SLOWDOWN = 1.15  # preemptions + restarts from checkpoint, on spot capacity
API_TOKENS_PER_S = 1000.0  # aggregate generated tokens/s from an API at ~16 concurrent requests
TEACHER_BATCH = 64  # sequences decoded together when a teacher runs on the training GPU
MAX_SAMPLES_PER_QUESTION = 4  # alignment retries a question at most this many times
MFU_PREFILL_CPU = 0.40  # prefill on CPU, fraction of the measured matmul rate
# A GPU training step's floor: eager PyTorch launches every op's kernels from Python, so a small
# student's step costs about the same whatever its FLOPs. Measured on one H200 (benchmarks/
# gpu_smoke.py, 2026-12-04, torch 2.11, bf16 autocast, AdamW): from-scratch students of 4-8 layers
# (1M-28M parameters) took 14-31 ms a step at 2,048 and at 16,384 tokens alike, 3.7 ms a layer;
# the job's own step (data, loss bookkeeping) took the default 1M student 22.3 ms, 6.9 ms over it.
# Compiled (torch.compile fuses the elementwise ops between matmuls) that step took 10.2 ms: 0.5x.
GPU_STEP_S = 6.9e-3
GPU_STEP_S_PER_LAYER_PASS = 3.7e-3
GPU_COMPILED_STEP = 0.5
# Compiling those steps costs the job once, inside its training time: on the same H200 the compiled
# 300-step run of the 1M student averaged 16,506 tokens/s against 200,904 once compiled, ~26 s.
GPU_COMPILE_S = 26.0

# CPU factors measured on this kind of machine override the guesses above. File format
# (JSON, written by benchmarks/planner_calibrate.py --write): {"train_efficiency": f,
# "prefill_efficiency": f, "measured_on": {...}, "runs": [{model, params, layers,
# train_tokens_per_s, prefill_ms_128, decode_ms_per_token}, ...]}; the factors are fractions of
# the measured numpy matmul rate (torch training, and torch prefill for a CPU teacher).
CPU_CALIBRATION = Path(__file__).with_name("data") / "cpu_calibration.json"
if CPU_CALIBRATION.is_file():
    _cal = json.loads(CPU_CALIBRATION.read_text())
    MFU_TRAIN_CPU = float(_cal.get("train_efficiency", MFU_TRAIN_CPU))
    MFU_PREFILL_CPU = float(_cal.get("prefill_efficiency", MFU_PREFILL_CPU))
# Serving on CPU runs the CTranslate2 engine (stratos.serve.engines), not the torch loop the
# factors above describe: its own fit, {"serving": {"prefill_efficiency", "decode_read_efficiency",
# "decode_floor_ms", "split_read_efficiency", "host_gflops", "read_gbps", "runs"}}, is written by
# benchmarks/serving_bench.py calibrate --write: prefill as a fraction of the matmul rate, a decode
# step as a floor plus the weights read at a fraction of one core's read rate for their size (a
# smaller fraction of each core's share when the step is split over cores: the threads meet per
# operation and share memory), the rates measured in that run.
_serving = (_cal.get("serving") or {}) if CPU_CALIBRATION.is_file() else {}
SERVE_MFU_PREFILL_CPU = float(_serving.get("prefill_efficiency", MFU_PREFILL_CPU))
SERVE_READ_EFFICIENCY_CPU = float(_serving.get("decode_read_efficiency", BW_EFFICIENCY))
SERVE_DECODE_FLOOR_MS_CPU = float(_serving.get("decode_floor_ms", DECODE_FLOOR_MS_CPU))
# Unmeasured, a split step breaks even on two cores at best: the one-core line at half its rate.
SERVE_SPLIT_READ_EFFICIENCY_CPU = float(_serving.get("split_read_efficiency", SERVE_READ_EFFICIENCY_CPU / 2))


@dataclass(frozen=True)
class Synthesis:
    """Teacher work to build the training set: calls, tokens, hours, USD."""

    calls: float
    input_tokens: float
    output_tokens: float
    hours: float
    usd: float


def teacher_calls(n_train: int, mode: str, coverage: float, rationale_budget: int) -> float:
    """How many teacher generations the data needs.

    Alignment: every example is a teacher answer that passed the checker; a teacher that is
    right with probability ``coverage`` needs ~1/coverage samples per kept example, capped at
    ``MAX_SAMPLES_PER_QUESTION``. Injection: questions and answers come from the task's rule
    engine (reverse synthesis); the teacher only writes answer-conditioned rationales for the
    job's ``rationale_budget`` of them (the rest use the task's own verified rationale).
    """
    if mode == "alignment":
        return n_train * min(MAX_SAMPLES_PER_QUESTION, 1.0 / max(coverage, 1e-3))
    return float(min(n_train, rationale_budget))


def decode_tokens_per_s(params: float, hw: Hardware, batch: int) -> float:
    """Batched decode throughput (tokens/s): the smaller of the compute roof
    (2·P FLOPs per token) and the bandwidth roof (bf16 weights read once per step for
    ``batch`` sequences; fp32 on CPU)."""
    bytes_per_param = np.where(hw.is_gpu, 2.0, 4.0)
    compute = hw.devices * hw.tflops * 1e12 * np.where(hw.is_gpu, MFU_PREFILL, MFU_PREFILL_CPU) / (2.0 * params)
    bandwidth = hw.devices * hw.bandwidth_gbps * 1e9 * BW_EFFICIENCY / (bytes_per_param * params) * batch
    return np.minimum(compute, bandwidth)


def synthesis_estimate(
    calls: float, prompt_tokens: int, output_tokens: int, *, api_usd_per_m: tuple[float, float] | None,
    teacher_params: float, hw: Hardware, usd_per_hour: float,
) -> Synthesis:
    """USD and hours of teacher generation.

    API teacher: tokens x list price (input and output priced separately), at
    ``API_TOKENS_PER_S`` aggregate. Self-hosted teacher: runs on the training offering before
    training, at ``decode_tokens_per_s`` with ``TEACHER_BATCH``; billed at that offering's price.
    """
    tin, tout = calls * prompt_tokens, calls * output_tokens
    if api_usd_per_m is not None:
        usd = tin * api_usd_per_m[0] / 1e6 + tout * api_usd_per_m[1] / 1e6
        return Synthesis(calls, tin, tout, tout / API_TOKENS_PER_S / 3600.0, usd)
    tps = decode_tokens_per_s(teacher_params, hw, np.where(hw.is_gpu, TEACHER_BATCH, 8))
    prefill_s = 2.0 * teacher_params * tin / (hw.devices * hw.tflops * 1e12 * np.where(hw.is_gpu, MFU_PREFILL, MFU_PREFILL_CPU))
    hours = (tout / tps + prefill_s) / 3600.0
    return Synthesis(calls, tin, tout, hours, hours * usd_per_hour)


def train_flops(student_params: float, tokens: float, lora: bool, kd_teacher_params: float = 0.0) -> float:
    """Training FLOPs for ``tokens`` tokens.

    Full fine-tuning: 6·P per token (forward 2P, backward 4P). LoRA: 4·P per token (forward 2P,
    backward through frozen weights 2P for activation gradients; adapter weight gradients are
    <1% and ignored). Token-level KD adds the teacher's forward pass, 2·P_teacher per token.
    """
    per_token = (4.0 if lora else 6.0) * student_params + 2.0 * kd_teacher_params
    return per_token * tokens


def train_memory_gb(
    student_params: float, lora: bool, devices: int, kd_teacher_params: float = 0.0, gpu_mem_gb: float | None = None
) -> float:
    """Per-device memory (GB) to train on ``devices`` devices, as the job will run it.

    The job's own strategy function decides (``stratos.distill.parallel.plan_parallelism``): a
    replica per device (DDP) when the state fits one device of ``gpu_mem_gb``, else sharded
    FSDP-style over all devices; ``gpu_mem_gb=None`` gives the sharded figure (the least a
    device can need, so ``fits`` answers the same). Memory model and bytes/param: there.
    """
    from stratos.distill.parallel import plan_parallelism

    return plan_parallelism(student_params, lora, kd_teacher_params, gpu_mem_gb, devices).mem_gb_per_device


def fits(need_gb_per_device: float, hw: Hardware) -> bool | np.ndarray:
    """True when the need stays within ``MEMORY_HEADROOM`` of one device's memory."""
    return need_gb_per_device <= MEMORY_HEADROOM * hw.memory_gb


def train_seconds(tokens: float, tokens_per_s: float, max_s: float = np.inf, warmup_s: float = 0.0) -> float:
    """Seconds to train on ``tokens`` at ``tokens_per_s`` after ``warmup_s`` of one-off work (compiling),
    capped at the job's ``max_s``: the job stops at its time budget, which the warm-up counts in, so
    fewer tokens are seen (``(seconds - warmup_s) x tokens_per_s``)."""
    return np.minimum(tokens / tokens_per_s + warmup_s, max_s)


def train_hours(train_s: float, spot: bool = False, provision_h: float = 0.0, synthesis_h: float = 0.0) -> float:
    """Wall-clock hours of the training job: teacher synthesis, then ``train_s`` seconds of training
    (x ``SPOT_SLOWDOWN`` on spot: preemptions and restarts), plus provisioning."""
    return synthesis_h + train_s / 3600.0 * np.where(spot, SPOT_SLOWDOWN, 1.0) + provision_h


def train_tokens_per_s(student_params: float, hw: Hardware, lora: bool, kd_teacher_params: float = 0.0) -> float:
    """Training throughput (tokens/s): ``train_flops`` per token at ``MFU_TRAIN_*`` of peak on every device."""
    mfu = np.where(hw.is_gpu, MFU_TRAIN_GPU, MFU_TRAIN_CPU)
    return hw.devices * hw.tflops * 1e12 * mfu / train_flops(student_params, 1.0, lora, kd_teacher_params)


def gpu_launch_bound_tokens_per_s(
    layers: int | None, batch_blocks: int, micro_blocks: int, seq_len: int, compiled: bool = False
) -> float:
    """The most training tokens/s a GPU job reaches whatever the GPU's FLOPs: its step's tokens
    over the step's launch floor, one forward/backward pass per micro-batch (``GPU_STEP_S*``),
    halved when the steps are compiled (``GPU_COMPILED_STEP``). Data-parallel ranks split the
    step's blocks, so more GPUs do not raise it. Unbounded for a model of unknown depth."""
    if not layers:
        return float("inf")
    passes = max(1, -(-batch_blocks // micro_blocks))
    floor_s = (GPU_STEP_S + GPU_STEP_S_PER_LAYER_PASS * layers * passes) * (GPU_COMPILED_STEP if compiled else 1.0)
    return batch_blocks * seq_len / floor_s


def serve_memory_gb(params: float, kv_bytes_per_token: float, context_tokens: int, hw: Hardware) -> float:
    """Per-device serving memory (GB): weights (bf16 on GPU, fp32 on CPU) split by tensor
    parallelism + KV cache for ``SERVE_CONCURRENCY`` sequences of ``context_tokens`` + reserve."""
    bpp = np.where(hw.is_gpu, 2.0, 4.0)
    kv = kv_bytes_per_token * context_tokens * SERVE_CONCURRENCY
    return (params * bpp + kv) / hw.devices / 1e9 + RUNTIME_RESERVE_GB


def teacher_memory_gb(params: float, hw: Hardware) -> float:
    """Per-device memory (GB) of a self-hosted teacher generating the training data: weights (bf16
    on GPU, fp32 on CPU) x ``TEACHER_ACTIVATION_OVERHEAD``, split over the devices, + reserve."""
    return params * np.where(hw.is_gpu, 2.0, 4.0) * TEACHER_ACTIVATION_OVERHEAD / hw.devices / 1e9 + RUNTIME_RESERVE_GB


def serve_latency_ms(
    params: float, layers: int, kv_bytes_per_token: float, prompt_tokens: int, output_tokens: int, hw: Hardware
) -> float:
    """p50 latency (ms) of one request: overhead + prefill + output_tokens x decode step.

    Prefill is compute-bound: 2·P·prompt FLOPs at ``MFU_PREFILL`` of peak over all devices
    (tensor parallel). Decode is read-bound: each step reads the weights and the KV cache so
    far, never faster than a per-step floor. On a GPU that is the datasheet bandwidth at
    ``BW_EFFICIENCY`` and a floor per layer (kernel launches) + scheduler. On a CPU the cores
    read the bytes at the rates measured for buffers of their size (``read_gbps_at``: a 3M
    student's 12 MB come from a cache, a 30M one's from memory), on one core or split over all
    as the engine does (``cpu_decode_step_ms``). Single request, no batching interference.
    """
    gpu = np.asarray(hw.is_gpu)
    bpp = np.where(gpu, 2.0, 4.0)
    mfu = np.where(gpu, MFU_PREFILL, SERVE_MFU_PREFILL_CPU)
    prefill_ms = 2.0 * params * prompt_tokens / (hw.devices * hw.tflops * 1e12 * mfu) * 1e3
    step_bytes = decode_step_bytes(params, bpp, kv_bytes_per_token, prompt_tokens, output_tokens)
    gpu_step = step_bytes / (hw.devices * hw.bandwidth_gbps * 1e9 * BW_EFFICIENCY) * 1e3
    gpu_step = np.maximum(gpu_step, DECODE_FLOOR_MS_GPU + DECODE_FLOOR_MS_PER_LAYER_GPU * layers)
    cpu_step = cpu_decode_step_ms(step_bytes, hw)
    return REQUEST_OVERHEAD_MS + prefill_ms + output_tokens * np.where(gpu, gpu_step, cpu_step)


def cpu_decode_step_ms(step_bytes: Any, hw: Hardware) -> Any:
    """One CPU decode step in the engine's faster layout (``stratos.serve.ct2_tuning`` measures
    which): a floor plus ``step_bytes`` read on one core at ``SERVE_READ_EFFICIENCY_CPU`` of its
    rate for their size, or split over ``hw.cores``, each core reading its share at
    ``SERVE_SPLIT_READ_EFFICIENCY_CPU`` of its rate for the share's size. Both fitted by
    ``benchmarks/serving_bench.py calibrate``."""
    cores = np.maximum(np.asarray(hw.cores), 1)
    one = SERVE_DECODE_FLOOR_MS_CPU + one_core_read_ms(step_bytes, hw) / SERVE_READ_EFFICIENCY_CPU
    split = SERVE_DECODE_FLOOR_MS_CPU + one_core_read_ms(step_bytes / cores, hw) / SERVE_SPLIT_READ_EFFICIENCY_CPU
    return np.where(cores > 1, np.minimum(one, split), one)


def decode_step_bytes(
    params: float, bytes_per_param: Any, kv_bytes_per_token: float, prompt_tokens: float, output_tokens: float
) -> Any:
    """Bytes one decode step reads: the weights, and the KV cache at the answer's midpoint."""
    return params * bytes_per_param + kv_bytes_per_token * (prompt_tokens + output_tokens / 2.0)


def one_core_read_ms(nbytes: Any, hw: Hardware) -> Any:
    """Milliseconds one core takes to read ``nbytes`` on ``hw``: a CPU decode step's roof."""
    return nbytes / (read_gbps_at(nbytes, hw) * 1e9) * 1e3


def read_gbps_at(nbytes: Any, hw: Hardware) -> Any:
    """One core's read rate (GB/s) for a buffer of ``nbytes``: ``hw.read_gbps`` interpolated in
    log size between ``READ_SIZES_MIB``, held flat beyond either end (element-wise over offerings)."""
    sizes = np.arange(len(READ_SIZES_MIB), dtype=float)
    at = np.interp(np.log2(np.maximum(nbytes, 1.0) / 2**20), np.log2(READ_SIZES_MIB), sizes)
    weight = np.maximum(0.0, 1.0 - np.abs(np.subtract.outer(at, sizes)))  # linear interpolation's hat functions
    return (np.asarray(hw.read_gbps, dtype=float) * weight).sum(-1)


def model_latency_ms(model: Any, prompt_tokens: float, output_tokens: float, hw: Hardware) -> Any:
    """``serve_latency_ms`` for a zoo model (``ModelSpec``): the planner's serving objective, and
    the prediction a finished run's measured latency is set beside (``calibration.point_of``)."""
    return serve_latency_ms(
        model.params, model.layers or 1, model.kv_bytes_per_token(), prompt_tokens, output_tokens, hw
    )


def serve_cost_usd(usd_per_hour: float, horizon_hours: float) -> float:
    """One serving replica kept up for the whole horizon (no autoscaling to zero)."""
    return usd_per_hour * max(horizon_hours, 0.0)
