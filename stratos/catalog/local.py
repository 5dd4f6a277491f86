"""This machine as an offering: cores, memory, measured matmul GFLOP/s and memory bandwidth,
and its last-level cache size (a model that fits there decodes from it, not from memory).

Measured once (a second or two of numpy on float32) and cached as JSON under the Stratos
cache, keyed by hostname and core count, so plans stay fast and deterministic. The
estimators use the measured numbers the way they use a GPU's datasheet.

The matmul is timed on one core, by that thread's CPU time, in a fresh interpreter whose
BLAS is single-threaded, and scaled by the core count: a multi-threaded BLAS timed while
other work ran stalled on its descheduled partner thread and read 11-19 instead of ~225
GFLOP/s on this 2-core host (cached, that figure priced every later local plan), while one
core read 113-119 under the same load and ~114 quiet.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
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


def last_level_cache_mb(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> float:
    """The largest unified cache of CPU 0, MiB, from sysfs (0 where it cannot be read)."""
    best = 0.0
    for index in root.glob("index*"):
        try:
            if (index / "type").read_text().strip() not in ("Unified", "Data"):
                continue
            size = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        if m := re.fullmatch(r"(\d+)([KMG]?)", size):
            best = max(best, int(m.group(1)) * {"": 1 / 1024**2, "K": 1 / 1024, "M": 1.0, "G": 1024.0}[m.group(2)])
    return round(best, 3)


#: Environment variables that make numpy's BLAS single-threaded in the measuring interpreter.
ONE_THREAD = {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def measure(n: int = 512, bw_mb: int = 64, repeats: int = 10) -> dict[str, float]:
    """This host's float32 matmul GFLOP/s (one core's rate x the cores) and copy bandwidth GB/s
    (read+write), measured in a fresh single-threaded interpreter (see the module docstring)."""
    code = f"import json; from stratos.catalog.local import one_core; print(json.dumps(one_core({n}, {bw_mb}, {repeats})))"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             check=True, env={**os.environ, **ONE_THREAD})
        core = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return one_core(n, bw_mb, repeats, clock=time.perf_counter)  # this interpreter's BLAS (all cores), wall clock
    return {"gflops": round(core["gflops"] * (os.cpu_count() or 1), 2), "bandwidth_gbps": core["bandwidth_gbps"]}


def one_core(n: int, bw_mb: int, repeats: int, clock=time.thread_time) -> dict[str, float]:
    """Best-of-``repeats`` matmul GFLOP/s (n x n) by this thread's CPU time, so a time slice given
    to other work does not count, and copy bandwidth GB/s by the wall clock."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        a @ b
        best = min(best, clock() - t)
    gflops = 2 * n**3 / max(best, 1e-9) / 1e9
    src = np.ones(bw_mb * 1024 * 1024 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return {"gflops": round(gflops, 2), "bandwidth_gbps": round(2 * src.nbytes / best / 1e9, 2)}


def profile_path() -> Path:
    """Where this machine's profile is cached (per hostname and core count)."""
    return cache_dir() / f"local-machine-{platform.node() or 'host'}-{os.cpu_count() or 1}.json"


def local_profile(refresh: bool = False) -> dict[str, float]:
    """Cores, memory and measured speeds of this machine (cached)."""
    cores = os.cpu_count() or 1
    path = profile_path()
    cached = None if refresh else read_json(path)
    if cached is not None:
        if "cache_mb" not in cached:  # a profile cached before the cache size was part of it
            cached = atomic_write_json(path, {**cached, "cache_mb": last_level_cache_mb()})
        return cached
    return atomic_write_json(path, {"vcpus": float(cores), "memory_gb": round(_memory_gb(), 2),
                                    "cache_mb": last_level_cache_mb(), **measure()})


def local_offering(price_per_hour: float = 0.0, profile: dict[str, float] | None = None) -> Offering:
    """The ``local`` offering at ``price_per_hour`` USD (default 0)."""
    prof = profile or local_profile()
    return Offering(
        cloud="local", instance_type="local", vcpus=prof["vcpus"], memory_gb=prof["memory_gb"],
        price_per_hour=price_per_hour, gflops=prof["gflops"], bandwidth_gbps=prof["bandwidth_gbps"],
        cache_mb=prof.get("cache_mb") or None,
    )
