"""This machine as an offering: cores, memory, measured matmul GFLOP/s and memory bandwidth.

Measured once (a second or two of numpy on float32) and cached as JSON under the Stratos
cache, keyed by hostname and core count, so plans stay fast and deterministic. The
estimators use the measured numbers the way they use a GPU's datasheet.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from stratos.catalog.offering import Offering
from stratos.catalog.sky_catalog import cache_dir
from stratos.io import atomic_write_json, read_json


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 8.0


def measure(n: int = 512, bw_mb: int = 64, repeats: int = 10) -> dict[str, float]:
    """Best-of-``repeats`` float32 matmul GFLOP/s (n x n) and copy bandwidth GB/s (read+write).

    Ten repeats (about 50 ms in all): a 512 matmul takes ~1 ms, and three repeats taken while
    other work ran were cached on this 2-core host as 19 instead of ~220 GFLOP/s; the plan's
    serving latency is priced from this cached figure. The planner's CPU serving fit is relative to this same
    measurement (``serving_bench.py calibrate``), so ``n`` stays 512."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    gflops = 2 * n**3 / best / 1e9
    src = np.ones(bw_mb * 1024 * 1024 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    bandwidth = 2 * src.nbytes / best / 1e9
    return {"gflops": round(gflops, 2), "bandwidth_gbps": round(bandwidth, 2)}


def local_profile(refresh: bool = False) -> dict[str, float]:
    """Cores, memory and measured speeds of this machine (cached)."""
    cores = os.cpu_count() or 1
    path = cache_dir() / f"local-machine-{platform.node() or 'host'}-{cores}.json"
    cached = None if refresh else read_json(path)
    if cached is not None:
        return cached
    return atomic_write_json(path, {"vcpus": float(cores), "memory_gb": round(_memory_gb(), 2), **measure()})


def local_offering(price_per_hour: float = 0.0, profile: dict[str, float] | None = None) -> Offering:
    """The ``local`` offering at ``price_per_hour`` USD (default 0)."""
    prof = profile or local_profile()
    return Offering(
        cloud="local", instance_type="local", vcpus=prof["vcpus"], memory_gb=prof["memory_gb"],
        price_per_hour=price_per_hour, gflops=prof["gflops"], bandwidth_gbps=prof["bandwidth_gbps"],
    )
