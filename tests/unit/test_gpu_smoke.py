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
    assert res["rate"][0]["student"] == "scratch-llama-1m" and res["rate"][0]["tokens_per_s"] > 0


def _smoke_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("device_name, row", [
    ("NVIDIA H200", "H200"), ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA A10G", "A10G"), ("NVIDIA L40S", "L40S"),
    ("Tesla T4", "T4"), ("Some New Accelerator", None),
])
def test_the_planners_gpu_rate_is_set_beside_the_measured_one(device_name, row):
    from stratos.planner.estimators import MFU_TRAIN_GPU

    figures = {"student_parameters": 1_000_000, "tokens_per_s": 2.0e6}
    p = _smoke_module().planner_prediction(device_name, figures)
    if row is None:
        assert p is None
        return
    assert p["gpu"] == row and p["assumed_mfu"] == MFU_TRAIN_GPU
    # 6 FLOPs per parameter per token: the measured utilisation is the rate's FLOPs over the datasheet peak.
    from stratos.catalog.gpus import gpu_spec

    peak = gpu_spec(row).bf16_tflops * 1e12
    assert p["measured_mfu"] == pytest.approx(2.0e6 * 6e6 / peak)
    assert p["predicted_tokens_per_s"] == pytest.approx(peak * MFU_TRAIN_GPU / 6e6)
