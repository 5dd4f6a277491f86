"""This machine as an offering: cores, memory, measured matmul GFLOP/s and memory bandwidth,
and how fast one core reads buffers of growing size (``READ_SIZES_MIB``): a batch-1 decode
step reads every weight once, so its time is the weights' bytes over that rate at their size.
The rate is measured rather than derived from cache sizes: on a 2-core AMD EPYC host one core
read 12 MiB at ~138 GB/s, on a 2-core Intel Xeon (Sapphire Rapids class, 480 MiB L3 as the VM
reports it) at ~29 GB/s, and the same student decoded 4x slower there.

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


#: Environment variables that make numpy's BLAS single-threaded in the measuring interpreter.
ONE_THREAD = {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


#: Buffer sizes (MiB) one core's read rate is measured at: a 1M-parameter float32 student's
#: weights (4 MiB) up to past any last-level cache a VM sees (256 MiB).
READ_SIZES_MIB = (4, 16, 64, 256)


def measure(n: int = 512, bw_mb: int = 64, repeats: int = 10) -> dict:
    """This host's float32 matmul GFLOP/s (one core's rate x the cores), copy bandwidth GB/s
    (read+write) and one core's read rates (``read_gbps``), measured in a fresh
    single-threaded interpreter (see the module docstring)."""
    code = f"import json; from stratos.catalog.local import one_core; print(json.dumps(one_core({n}, {bw_mb}, {repeats})))"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             check=True, env={**os.environ, **ONE_THREAD})
        core = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return one_core(n, bw_mb, repeats, clock=time.perf_counter)  # this interpreter's BLAS (all cores), wall clock
    return {**core, "gflops": round(core["gflops"] * (os.cpu_count() or 1), 2)}


def one_core(n: int, bw_mb: int, repeats: int, clock=time.thread_time) -> dict:
    """Best-of-``repeats`` matmul GFLOP/s (n x n) by this thread's CPU time, so a time slice given
    to other work does not count; copy bandwidth GB/s and read rates by the wall clock."""
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
    return {"gflops": round(gflops, 2), "bandwidth_gbps": round(2 * src.nbytes / best / 1e9, 2),
            "read_gbps": [round(read_gbps(mib), 2) for mib in READ_SIZES_MIB]}


def read_gbps(mib: float, seconds: float = 0.2) -> float:
    """GB/s at which this thread reads a ``mib`` MiB float32 buffer: its bytes over the best time
    ``max`` takes over it (a vectorised pass that writes nothing, as a decode step reads weights).
    Repeats for about ``seconds``, at least five times."""
    import numpy as np

    x = np.ones(max(1, int(mib * 2**20) // 4), dtype=np.float32)
    x.max()
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 5 or spent < seconds:
        t = time.perf_counter()
        x.max()
        took = time.perf_counter() - t
        best, spent, runs = min(best, took), spent + took, runs + 1
    return x.nbytes / best / 1e9


def profile_path() -> Path:
    """Where this machine's profile is cached (per hostname and core count)."""
    return cache_dir() / f"local-machine-{platform.node() or 'host'}-{os.cpu_count() or 1}.json"


def local_profile(refresh: bool = False) -> dict:
    """Cores, memory and measured speeds of this machine (cached; a profile cached before the
    read rates were part of it is measured again)."""
    cores = os.cpu_count() or 1
    path = profile_path()
    cached = None if refresh else read_json(path)
    if cached is not None and len(cached.get("read_gbps") or ()) == len(READ_SIZES_MIB):
        return cached
    return atomic_write_json(path, {"vcpus": float(cores), "memory_gb": round(_memory_gb(), 2), **measure()})


def local_offering(price_per_hour: float = 0.0, profile: dict | None = None) -> Offering:
    """The ``local`` offering at ``price_per_hour`` USD (default 0)."""
    prof = profile or local_profile()
    return Offering(
        cloud="local", instance_type="local", vcpus=prof["vcpus"], memory_gb=prof["memory_gb"],
        price_per_hour=price_per_hour, gflops=prof["gflops"], bandwidth_gbps=prof["bandwidth_gbps"],
        read_gbps=tuple(prof["read_gbps"]),
    )
