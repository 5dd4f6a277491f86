"""What the machine can do and which device a process uses, decided in one place.

Why a module: the trainer's autocast, the student's and teachers' placement, the
evaluation engine and ``stratos serve`` all hinge on the same two questions: which
device (``resolve_device``) and whether bf16 runs on dedicated units there
(``bf16_supported``). Asked in two places they drifted once already.

Device settings read ``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda``
(this process's GPU: ``LOCAL_RANK`` under torchrun, else 0) or ``cuda:N``.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from stratos.exceptions import ConfigError

#: CPU flags of native bf16 dot products (AVX512-BF16, Intel AMX).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
#: What a device setting may say (JobSettings.device, ``--device``).
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"
DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda (this process's GPU) or cuda:N"


def resolve_device(requested: str = "auto", *, setting: str = "device") -> str:
    """``"cpu"`` or ``"cuda:N"`` for this process; ``setting`` names the knob in errors.

    Under torchrun, ``auto`` and ``cuda`` mean the GPU of this process's ``LOCAL_RANK``
    (one process per GPU). Asking for CUDA where none is visible is an error, not a
    silent fallback: a plan that pays for a GPU must not train on the CPU unnoticed.
    """
    if not re.fullmatch(DEVICE_PATTERN, requested or ""):
        raise ConfigError(f"{setting}={requested!r} is not one of {DEVICE_HELP}; pick one of them.")
    if requested == "cpu":
        return "cpu"
    count = cuda_device_count()
    if requested == "auto" and count == 0:
        return "cpu"
    if count == 0:
        raise ConfigError(
            f"{setting}={requested!r} but no CUDA device is visible to torch; set {setting} to auto or cpu, "
            "or run on a GPU machine (check nvidia-smi and a CUDA build of torch)."
        )
    index = int(requested.split(":")[1]) if ":" in requested else int(os.environ.get("LOCAL_RANK", "0"))
    if index >= count:
        raise ConfigError(
            f"{setting}={requested!r} (index {index}) but only {count} CUDA device(s) are visible; "
            f"use cuda:0..cuda:{count - 1}."
        )
    return f"cuda:{index}"


def cuda_device_count() -> int:
    """Visible CUDA devices (0 without torch's CUDA build or a driver)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def prepare(device: str) -> Any:
    """Make ``device`` this process's current device and enable TF32 matmuls on it; returns a ``torch.device``.

    TF32: fp32 matmuls that remain (fp32 master weights, the loss) run on tensor cores,
    ~8x faster on A100/H100 at a precision training does not notice.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return dev


def weights_dtype(device: str) -> Any:
    """Dtype of weights that are only read (a frozen LoRA base, a KD teacher, inference):
    bf16 where ``device`` has bf16 units, else fp32."""
    import torch

    kind = device.split(":")[0]
    return torch.bfloat16 if kind == "cuda" and bf16_supported("cuda") else torch.float32


@functools.lru_cache(maxsize=4)
def bf16_supported(device: str = "cpu") -> bool:
    """True where bf16 matmuls run on dedicated units (faster than fp32), not emulated.

    On such CPUs bf16 autocast doubles training tokens/s and halves decode time on the
    2-core box; elsewhere bf16 is emulated and slower than fp32. Cached: the trainer asks
    on every micro-batch.
    """
    if device.split(":")[0] == "cuda":
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(f in flags for f in BF16_CPU_FLAGS)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, what ``lscpu`` prints), or the platform's
    processor string: the host every CPU figure names."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
