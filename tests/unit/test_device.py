"""One device choice: ``resolve_device`` and its users (job settings, trainer, engines, CLI) up to the
device boundary. Runs without a GPU: CUDA is hidden or faked where a test needs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from helpers.configs import job_config
from pydantic import ValidationError

import stratos.device as D
from stratos.distill.settings import JobSettings
from stratos.exceptions import ConfigError

NO_CUDA = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture
def gpus(monkeypatch):
    """Pretend ``n`` CUDA devices are visible."""

    def fake(n: int) -> None:
        monkeypatch.setattr(D, "cuda_device_count", lambda: n)

    return fake


def test_auto_is_cuda_when_present_else_cpu(gpus, monkeypatch):
    gpus(0)
    assert D.resolve_device("auto") == "cpu"
    assert D.resolve_device("cpu") == "cpu"
    gpus(2)
    assert D.resolve_device("auto") == "cuda:0"
    assert D.resolve_device("cpu") == "cpu"
    monkeypatch.setenv("LOCAL_RANK", "1")  # under torchrun each process takes its own GPU
    assert D.resolve_device("auto") == "cuda:1" and D.resolve_device("cuda") == "cuda:1"
    assert D.resolve_device("cuda:0") == "cuda:0"


def test_cuda_without_cuda_is_one_error_naming_the_setting(gpus):
    gpus(0)
    with pytest.raises(ConfigError, match=r"job\.device='cuda' but no CUDA device is visible.*set job\.device to auto or cpu"):
        D.resolve_device("cuda", setting="job.device")
    with pytest.raises(ConfigError, match=r"--device='cuda:1'"):
        D.resolve_device("cuda:1", setting="--device")
    gpus(2)
    with pytest.raises(ConfigError, match=r"only 2 CUDA device\(s\).*cuda:0\.\.cuda:1"):
        D.resolve_device("cuda:2")
    with pytest.raises(ConfigError, match=r"device='gpu' is not one of auto"):
        D.resolve_device("gpu")


def test_the_job_setting_accepts_only_device_names():
    assert JobSettings(device="cuda:3").device == "cuda:3"
    with pytest.raises(ValidationError, match="device"):
        JobSettings(device="gpu0")


def test_read_only_weights_are_bf16_on_cuda_only(monkeypatch):
    monkeypatch.setattr(D, "bf16_supported", lambda device="cpu": True)
    assert D.weights_dtype("cuda:0") == torch.bfloat16
    assert D.weights_dtype("cpu") == torch.float32  # CPU training keeps fp32 weights (bf16 only in autocast)


def test_compile_is_default_for_scratch_students_on_any_device_and_the_user_decides_otherwise():
    cfg = job_config()
    assert cfg.is_scratch and cfg.compiles(cfg.is_scratch) and not cfg.compiles(scratch=False)
    assert not job_config(compile=False).compiles(True) and job_config(compile=True).compiles(False)


def test_the_trainer_refuses_cuda_without_it(gpus, tmp_path):
    import stratos.distill.train as T
    from stratos.distill.packing import Blocks

    gpus(0)
    ids = torch.zeros(2, 16, dtype=torch.long)
    with pytest.raises(ConfigError, match=r"job\.device='cuda'"):
        T.train(torch.nn.Linear(2, 2), Blocks(ids, ids, ids), Blocks(ids, ids, ids), job_config(device="cuda"), tmp_path)


def test_serving_on_cuda_takes_the_transformers_engine_on_that_gpu_without_vllm(gpus, monkeypatch, tmp_path):
    from stratos.serve import engines
    from stratos.serve.engine import GenerationEngine

    gpus(1)
    monkeypatch.setattr(engines, "vllm_installed", lambda: False)
    seen = {}
    monkeypatch.setattr(GenerationEngine, "from_dir", classmethod(lambda cls, path, **kw: seen.update(kw) or "hf"))
    assert engines.load_engine(tmp_path, device="auto") == "hf" and seen["device"] == "cuda:0"
    assert engines.load_engine(tmp_path, engine="transformers", device="cuda:0") == "hf"
    with pytest.raises(ConfigError, match="--engine ctranslate2 runs on the CPU"):
        engines.load_engine(tmp_path, engine="ctranslate2", device="cuda")
    gpus(0)
    with pytest.raises(ConfigError, match=r"--device='cuda'"):
        engines.load_engine(tmp_path, device="cuda")


def test_a_local_teacher_and_the_eval_server_take_the_device(gpus, monkeypatch, tmp_path):
    from stratos.evaluate.local import local_server
    from stratos.synth.teachers import make_teacher
    from stratos.tasks.base import get_task

    teacher = make_teacher("smollm2-135m-instruct", get_task("mahjong"), threads=1, device="cpu")
    assert teacher.device == "cpu"
    gpus(0)
    with pytest.raises(ConfigError, match=r"--device='cuda'"), local_server(tmp_path, device="cuda"):
        pass


@pytest.mark.parametrize("cmd", [
    ("distill", "--config", "missing.json", "--out", "run", "--device", "cuda"),
    ("serve", "--model", ".", "--no-auth", "--no-verify", "--device", "cuda"),
    ("eval", "--model", ".", "--questions", "q.jsonl", "--device", "cuda"),
])
def test_cli_device_flags_fail_in_one_line_without_cuda(cmd, tmp_path):
    (tmp_path / "q.jsonl").write_text('{"hand": "1112345678999m"}\n')
    r = subprocess.run([sys.executable, "-m", "stratos.cli", *cmd], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path, env=NO_CUDA)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--device='cuda' but no CUDA device is visible" in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
