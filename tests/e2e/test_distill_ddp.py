"""`torchrun --nproc_per_node 2` (gloo on CPU) trains like one process with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import TINY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_two_process_ddp_matches_one_process_loss_curve(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**TINY, "max_steps": 20, "batch_blocks": 4, "micro_blocks": 2, "eval_every": 10,
                               "eval_samples": 0, "threads": 1}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    r = subprocess.run([sys.executable, "-m", "stratos.distill", "--config", str(cfg), "--out", str(one), "--quiet"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "stratos.distill",
                        "--config", str(cfg), "--out", str(two), "--quiet"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]

    from stratos.distill.checkpoint import load_latest

    a, b = load_latest(one / "ckpt")["history"], load_latest(two / "ckpt")["history"]
    assert len(a) == len(b) == 20
    assert [h["loss"] for h in b] == pytest.approx([h["loss"] for h in a], rel=1e-4)
    assert b[-1]["val_loss"] == pytest.approx(a[-1]["val_loss"], rel=1e-4)
    assert a[0]["loss"] > a[-1]["loss"]  # it learned something, in both
    assert json.loads((two / "report.json").read_text())["training"]["steps"] == 20
