"""This host's measured training speed: the tokens/s a local plan is priced with.

Why measured: a local job trains to a time cap, so the tokens it sees, and with them the accuracy
the planner predicts and the student it picks, follow the host's step rate. The first-order
estimate (the numpy matmul rate x a training efficiency fitted on one machine) does not know the
job's precision, compilation or thread count, and a plan priced on the wrong rate picks a student
the host cannot train in the cap (issue 23: a 10M student chosen for 88.7% measured 41.6%).

Rate points are (student parameters, training tokens/s) of earlier runs on this CPU model with the
job's thread count, from two places that record the same measurement:

- the user's calibration cache: every finished job appends its point, whose ``hardware`` holds the
  CPU model, the torch threads and the training tokens/s the job measured (``calibration.point_of``);
- the measured rows of ``data/accuracy_calibration.csv`` (columns ``cpu_model``, ``threads``,
  ``tokens_per_s``): the calibration runs, so a host of a kind measured here is priced right from its
  first plan.

On a CPU model with neither, the speed probe (``stratos.distill.speed_probe``: a few of the job's
own training steps per from-scratch size, run once in a fresh interpreter and cached per CPU model
and thread count) gives the points, so the first plan on a new kind of host is priced on a
measurement, not on the matmul estimate.

``tokens_per_s`` interpolates the points log-log over student size and, beyond them, keeps the
training FLOPs/s of the nearest point (6 x parameters per token). With no point (the probe could
not run), the caller's estimate stands; ``thread_share`` scales that estimate to the job's threads.
"""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stratos import calibration
from stratos.catalog.sky_catalog import cache_dir
from stratos.device import cpu_model
from stratos.io import atomic_write_json, read_json

log = logging.getLogger("stratos.planner")

RatePoint = tuple[float, float]  # (student parameters, training tokens/s)


def cache_points(threads: int, cpu: str, path: Path | None = None, request_key: str | None = None) -> list[RatePoint]:
    """Rates of finished runs in the calibration cache on CPU model ``cpu`` with ``threads`` threads
    (runs long enough to measure a step rate: ``calibration.teaches``), other than the runs of
    ``request_key``: a re-plan of an unchanged stack is the plan it ran (``calibration.read_points``)."""
    runs = filter(calibration.teaches, calibration.cpu_runs(cpu, threads, path, request_key))
    return [(float(p["student_params"]), float(p["hardware"]["tokens_per_s"])) for p in runs
            if p["hardware"].get("tokens_per_s")]


def csv_points(rows: Sequence[dict], threads: int, cpu: str) -> list[RatePoint]:
    """Rates of measured calibration rows (``accuracy.read_points`` shape) on ``cpu`` with ``threads``."""
    return [
        (float(r["student_params"]), float(r["tokens_per_s"]))
        for r in rows
        if str(r.get("measured")) == "1" and r.get("cpu_model") == cpu and r.get("tokens_per_s")
        and str(r.get("threads")) == str(threads)
    ]


def host_points(threads: int, request_key: str | None = None) -> list[RatePoint]:
    """Every rate point of this host's CPU model with ``threads`` threads (cache, then calibration rows),
    ``request_key``'s own runs left out."""
    from stratos.planner.accuracy import read_points

    cpu = cpu_model()
    return cache_points(threads, cpu, request_key=request_key) + csv_points(read_points(), threads, cpu)


def probe_path(threads: int) -> Path:
    """Where the speed probe's points for this CPU model and ``threads`` are cached."""
    return cache_dir() / f"speed-probe-{re.sub(r'[^A-Za-z0-9]+', '-', cpu_model()).strip('-')}-{threads}.json"


def probe_points(threads: int) -> list[RatePoint]:
    """The speed probe's points for this CPU model with ``threads`` threads (probed once, then cached);
    empty when the probe cannot run (it logs why)."""
    path = probe_path(threads)
    cached = read_json(path)
    if cached is None:
        log.info("measuring this host's training speed (%s, %d threads) for the plan, once", cpu_model(), threads)
        cmd = [sys.executable, "-m", "stratos.distill.speed_probe", "--threads", str(threads)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
            points = json.loads(out.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
            log.warning("the training speed probe failed (%s); the plan uses the matmul estimate", exc)
            return []
        cached = atomic_write_json(path, {"cpu_model": cpu_model(), "threads": threads, "points": points})
    return [(float(p), float(r)) for p, r in cached["points"]]


def tokens_per_s(params: float, points: Sequence[RatePoint]) -> float | None:
    """Training tokens/s of a ``params`` student from measured ``points``; None without points.

    Several points of one size count as their geometric mean. Between sizes: linear in
    log(params)-log(tokens/s); beyond them the nearest segment's line goes on, its slope held
    between -1 (constant FLOPs/s) and 0 (constant tokens/s), because small models use a CPU's
    matmul units worse than large ones (measured here: 1M, 3M, 10M at 2 threads 16.6k, 9.1k,
    4.3k tokens/s, slope -0.6); with a single size, constant FLOPs/s (slope -1).
    """
    if not points:
        return None
    by_size: dict[float, list[float]] = {}
    for p, r in points:
        by_size.setdefault(float(p), []).append(math.log(r))
    sizes = sorted(by_size)
    lp = np.log([float(s) for s in sizes])
    lr = np.array([float(np.mean(by_size[s])) for s in sizes])
    x = math.log(max(params, 1.0))
    if lp[0] < x < lp[-1]:
        return float(math.exp(np.interp(x, lp, lr)))
    end = 0 if x <= lp[0] else -1
    near = 1 if end == 0 else -2
    slope = (lr[end] - lr[near]) / (lp[end] - lp[near]) if len(lp) > 1 else -1.0
    return float(math.exp(lr[end] + min(0.0, max(-1.0, slope)) * (x - lp[end])))


def thread_share(threads: int, vcpus: float) -> float:
    """Share of the machine's measured matmul rate (all cores) that ``threads`` torch threads get."""
    return min(max(threads, 1), max(vcpus, 1.0)) / max(vcpus, 1.0)


def basis_note(threads: int, request_key: str | None = None) -> str:
    """What a local plan's training rate rests on, in the words its assumptions print."""
    n = len(host_points(threads, request_key))
    if n:
        return (f"local training rate: measured, {n} earlier run(s) on this CPU model ({cpu_model()}) with "
                f"{threads} threads (stratos.planner.host_rate)")
    unmeasured = ("no job of another request has run on it yet (the first one's measured rate will replace it; "
                  "a request's own runs never re-price it)")
    if probe_points(threads):
        return (f"local training rate: the speed probe's steps on this CPU model ({cpu_model()}) with {threads} "
                f"threads; {unmeasured}")
    return f"local training rate: estimated from the matmul rate x {threads} thread(s) on this CPU model; {unmeasured}"


def local_tokens_per_s(params: float, threads: int, estimate: float, vcpus: float,
                       request_key: str | None = None) -> tuple[float, str]:
    """(tokens/s, basis) the planner prices local training of a ``params`` student with: this host's
    measured rate, ``request_key``'s own runs left out (basis ``measured``), else the speed probe's
    (``probe``), else ``estimate`` x ``thread_share`` (``estimate``)."""
    sources = ((lambda: host_points(threads, request_key), "measured"), (lambda: probe_points(threads), "probe"))
    for points, basis in sources:  # the probe runs only where no run measured this host
        rate = tokens_per_s(params, points())
        if rate is not None:
            return rate, basis
    return estimate * thread_share(threads, vcpus), "estimate"
