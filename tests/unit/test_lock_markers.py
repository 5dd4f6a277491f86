"""requirements.lock fits every platform: Linux-only CUDA wheels carry environment markers.

``scripts/lock_markers.py`` is tested on a small dependency graph shaped like torch's, and
the committed lock is checked against the installed metadata (markers up to date) and
evaluated as pip would on macOS and Windows.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lock_markers", ROOT / "scripts" / "lock_markers.py")
lock_markers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock_markers)

GRAPH = {
    "app": ['torch; extra == "train"', "numpy", 'winshim; sys_platform == "win32"', 'uvloop; sys_platform != "win32"'],
    "torch": ['cudnn==9; platform_system == "Linux"', 'triton; platform_system == "Linux" and platform_machine == "x86_64"'],
    "cudnn": ["cublas"],  # unconditional, but only reached through a Linux-only edge
    "cublas": [], "numpy": [], "triton": [], "winshim": [], "uvloop": [],
}


def test_markers_follow_the_paths_that_reach_a_package():
    lines = ["app==1", "torch==2", "cudnn==9", "cublas==13", "numpy==2", "triton==3", "winshim==1", "uvloop==1"]
    out = dict(line.split("==", 1) for line in lock_markers.add_markers(lines, GRAPH.get, root="app", extras=["train"]))
    assert out["torch"] == "2" and out["numpy"] == "2"  # every platform
    assert out["cudnn"] == '9; sys_platform == "linux"' and out["cublas"] == '13; sys_platform == "linux"'
    assert out["triton"] == '3; sys_platform == "linux" and platform_machine == "x86_64"'
    assert out["winshim"] == '1; sys_platform == "win32"'
    assert out["uvloop"] == '1; sys_platform == "linux" or sys_platform == "darwin"'


def test_the_committed_lock_is_up_to_date_and_skips_cuda_off_linux():
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    assert lock_markers.add_markers(lines, lock_markers._requires) == lines, "run: python scripts/lock_markers.py requirements.lock"
    reqs = [Requirement(x) for x in lines if x and not x.startswith("#")]
    for target in (("darwin", "arm64", "3.11"), ("win32", "AMD64", "3.12")):
        env = lock_markers.environment(target)
        installed = {r.name for r in reqs if r.marker is None or r.marker.evaluate(env)}
        assert "torch" in installed and "pydantic" in installed
        assert not {n for n in installed if n.startswith(("nvidia-", "cuda-")) or n == "triton"}, target
    linux = lock_markers.environment(("linux", "x86_64", "3.11"))
    assert {r.name for r in reqs if r.marker is None or r.marker.evaluate(linux)} == {r.name for r in reqs}

