"""``Hardware``: what the estimators need to know about an offering's compute, in one shape.

GPUs come from the datasheet table, this machine from its measurement; the estimators
never look at provider names.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratos.catalog.gpus import gpu_spec
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
    cache_mb: float = 0.0  # last-level CPU cache (0: unknown, or a GPU)

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
        cache_mb=offering.cache_mb or 0.0,
    )
