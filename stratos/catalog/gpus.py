"""GPU datasheet facts (memory, dense BF16/FP16 TFLOPS, memory bandwidth), one row per
accelerator as SkyPilot names it, with the source of each row.

Data lives in ``data/gpus.csv`` so adding a GPU is a one-line edit; this module only
loads it once and answers lookups.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from stratos.exceptions import UnknownNameError

_CSV = Path(__file__).with_name("data") / "gpus.csv"


@dataclass(frozen=True)
class GpuSpec:
    """Per-device datasheet facts. Units: GB, TFLOPS (dense, no sparsity), GB/s."""

    accelerator: str
    memory_gb: float
    bf16_tflops: float
    bandwidth_gbps: float
    source: str


@cache
def gpu_specs() -> dict[str, GpuSpec]:
    """Every accelerator in the table, keyed by SkyPilot name."""
    with _CSV.open(newline="") as f:
        return {
            row["accelerator"]: GpuSpec(
                accelerator=row["accelerator"],
                memory_gb=float(row["memory_gb"]),
                bf16_tflops=float(row["bf16_tflops"]),
                bandwidth_gbps=float(row["bandwidth_gbps"]),
                source=row["source"],
            )
            for row in csv.DictReader(f)
        }


def gpu_spec(name: str) -> GpuSpec:
    """Facts for one accelerator; unknown names list the valid ones."""
    specs = gpu_specs()
    if name not in specs:
        raise UnknownNameError(
            f"unknown GPU {name!r}; known: {', '.join(sorted(specs))}. "
            f"Add a row to {_CSV} (with its datasheet source) to use it."
        )
    return specs[name]
