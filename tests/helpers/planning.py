"""A module's own Stratos cache for planner tests: catalog JSON and local-machine profiles written
there, never the developer's (the calibration cache is per test already, see tests/conftest.py)."""

from __future__ import annotations

import json

import pytest

from stratos.catalog.local import profile_path

#: A local-machine profile for planner tests: what the plan prices without measuring this host.
PROFILE = {"vcpus": 2.0, "memory_gb": 16.0, "gflops": 40.0, "bandwidth_gbps": 10.0,
           "read_gbps": [30.0, 30.0, 24.0, 15.0]}


def write_local_profile() -> None:
    """Write ``PROFILE`` as this machine's cached profile (under the current ``STRATOS_CACHE``)."""
    path = profile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(PROFILE))


@pytest.fixture(autouse=True, scope="module")
def module_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("stratos-cache")
        mp.setenv("STRATOS_CACHE", str(d))
        yield d
