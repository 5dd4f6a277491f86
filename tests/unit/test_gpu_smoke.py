"""benchmarks/gpu_smoke.py: exits 0 with a clear message without CUDA, and its parts run end to end
(``--cpu-check``: every part on the CPU at toy size) so the script works when a GPU box runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_smoke.py"
NO_CUDA = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


def test_without_cuda_it_says_so_and_exits_zero(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "s")], capture_output=True, text=True,
                       timeout=120, env=NO_CUDA)
    assert r.returncode == 0, r.stderr
    assert "no CUDA device" in r.stdout and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_every_part_runs_on_the_cpu_at_toy_size(tmp_path):
    out = tmp_path / "s"
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--cpu-check"], capture_output=True,
                       text=True, timeout=900, env={**NO_CUDA, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-4000:])
    res = json.loads((out / "gpu_smoke.json").read_text())
    assert res["train"]["cuda"]["steps"] == res["train"]["cpu"]["steps"] == 6
    assert res["train"]["cpu"]["tokens_per_s"] > 0 and res["train"]["cuda_over_cpu_tokens_per_s"] > 0
    for conc in (1, 16):
        assert res["serve"][f"concurrency_{conc}"]["errors"] == 0
        assert res["serve"][f"concurrency_{conc}"]["requests_per_s"] > 0
    assert "CUDA / CPU training tokens/s" in r.stdout
