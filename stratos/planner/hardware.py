"""``Hardware``: what the estimators need to know about an offering's compute, in one shape.

GPUs come from the datasheet table, this machine from its measurement; the estimators
never look at provider names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stratos.catalog.gpus import gpu_spec
from stratos.catalog.local import READ_SIZES_MIB
from stratos.catalog.offering import Offering


@dataclass(frozen=True)
class Hardware:
    """Per-device compute facts. Units: GB, TFLOPS (dense bf16, or measured fp32 on CPU), GB/s."""

    name: str
    devices: int
    memory_gb: float
    tflops: float
    bandwidth_gbps: float
    is_gpu: bool
    # One core's read rate (GB/s) of buffers of READ_SIZES_MIB, last axis; on a GPU (or a CPU
    # not measured) the bandwidth at every size.
    read_gbps: Any = None
    cores: Any = 1  # CPU cores one decode stream may split its step over (the engine measures whether it does)

    def __post_init__(self) -> None:
        if self.read_gbps is None:
            rates = np.multiply.outer(np.asarray(self.bandwidth_gbps, dtype=float), np.ones(len(READ_SIZES_MIB)))
            object.__setattr__(self, "read_gbps", rates)

    @property
    def total_memory_gb(self) -> float:
        return self.devices * self.memory_gb


def hardware_of(offering: Offering) -> Hardware:
    """GPU facts x count for a GPU offering; host memory and measured speeds for a CPU one."""
    if offering.accelerator:
        spec = gpu_spec(offering.accelerator)
        return Hardware(
            name=offering.accelerator,
            devices=max(offering.accelerator_count, 1),
            memory_gb=spec.memory_gb,
            tflops=spec.bf16_tflops,
            bandwidth_gbps=spec.bandwidth_gbps,
            is_gpu=True,
        )
    return Hardware(
        name="cpu",
        devices=1,
        memory_gb=offering.memory_gb,
        tflops=(offering.gflops or 10.0 * offering.vcpus) / 1000.0,
        bandwidth_gbps=offering.bandwidth_gbps or 2.0 * offering.vcpus,
        is_gpu=False,
        read_gbps=np.asarray(offering.read_gbps, dtype=float) if offering.read_gbps else None,
        cores=max(int(offering.vcpus), 1),
    )
