"""A module's own Stratos cache for planner tests: catalog JSON and local-machine profiles written
there, never the developer's (the calibration cache is per test already, see tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def module_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("stratos-cache")
        mp.setenv("STRATOS_CACHE", str(d))
        yield d
