"""SIGTERM mid-training (a spot notice turned into a signal by the node's watcher): the job
checkpoints at the step it reached and exits 143; a rerun resumes at that step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stratos.distill.checkpoint import load_latest
from stratos.distill.preemption import EXIT_CODE

TRAIN = """
import os, signal, sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
import stratos.distill.train as T
from stratos.distill.config import DistillConfig
from stratos.distill.packing import Blocks

torch.manual_seed(0)
model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16))
ids = torch.arange(8).repeat(4, 1)
blocks = Blocks(ids, ids.clone(), torch.arange(8).repeat(4, 1))
cfg = DistillConfig(task="mahjong", teacher="rules", student="scratch-llama-3m", mode="injection", max_steps=12, epochs=100, eval_every=10_000, ckpt_every=10_000, patience=0, warmup_steps=0,
                    batch_blocks=2, micro_blocks=2, seq_len=16, threads=1, precision="fp32", compile=False)
kill_at = int(sys.argv[2])

def progress(rec):
    if rec["step"] == kill_at:
        os.kill(os.getpid(), signal.SIGTERM)  # what the watcher sends on a spot notice

r = T.train(model, blocks, blocks, cfg, sys.argv[1], progress=progress)
print("steps", r.steps, "first", r.history[0]["step"] if r.history else None)
"""


def _train(ckpt: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TRAIN, str(ckpt), str(kill_at)], capture_output=True, text=True,
                          timeout=300)


def test_sigterm_checkpoints_the_current_step_and_a_rerun_resumes_there(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    res = _train(ckpt, kill_at=5)
    assert res.returncode == EXIT_CODE, res.stderr[-2000:]
    state = load_latest(ckpt)
    assert state is not None and state["step"] == 5 and not state["done"]
    assert "checkpoint at step 5" in res.stderr
    res = _train(ckpt, kill_at=-1)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "steps 12" in res.stdout
    assert load_latest(ckpt)["done"] and [h["step"] for h in load_latest(ckpt)["history"]] == list(range(1, 13))


def test_sigterm_keeps_its_default_action_outside_training() -> None:
    code = "import os, signal, time; import stratos.distill.train; os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == -15
