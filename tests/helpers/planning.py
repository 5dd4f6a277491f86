"""A module's own Stratos cache for planner tests: catalog JSON and local-machine profiles written
there, never the developer's (the calibration cache is per test already, see tests/conftest.py)."""

from __future__ import annotations

import json

import pytest

from stratos.catalog.local import profile_path
from stratos.device import cpu_model
from stratos.planner.host_rate import probe_path

#: A local-machine profile for planner tests: what the plan prices without measuring this host.
PROFILE = {"vcpus": 2.0, "memory_gb": 16.0, "gflops": 40.0, "bandwidth_gbps": 10.0,
           "read_gbps": [30.0, 30.0, 24.0, 15.0]}

#: The speed probe's (student parameters, training tokens/s) for planner tests: without them a fresh
#: cache runs the real probe, whose rates vary with the host and its load (1.1M: 12k-21k tokens/s
#: on one Intel host), and a plan's tokens, and with them whether its accuracy rests on measured
#: runs, followed that noise.
PROBE_POINTS = [[1_115_264, 16_600.0], [2_976_192, 9_100.0], [10_818_432, 4_300.0]]


def write_local_profile() -> None:
    """Write ``PROFILE`` and ``PROBE_POINTS`` as this machine's cached profile and speed probe
    (under the current ``STRATOS_CACHE``), so a plan never measures the host it runs on."""
    path = profile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(PROFILE))
    for threads in range(1, int(PROFILE["vcpus"]) + 1):
        probe_path(threads).write_text(json.dumps({"cpu_model": cpu_model(), "threads": threads, "points": PROBE_POINTS}))


@pytest.fixture(autouse=True, scope="module")
def module_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("stratos-cache")
        mp.setenv("STRATOS_CACHE", str(d))
        yield d
