"""The vLLM launch line: right flags, token read from the environment, never written into the script."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess

import pytest

from stratos.serve.vllm import VllmServe, vllm_serve_command


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_argv_has_vllm_serve_flags():
    args = VllmServe("/opt/model", "mahjong-student", port=8080, max_model_len=2048).argv("tok")
    assert args[:3] == ["vllm", "serve", "/opt/model"]
    assert flag(args, "--served-model-name") == "mahjong-student"
    assert flag(args, "--api-key") == "tok"
    assert flag(args, "--port") == "8080" and flag(args, "--host") == "0.0.0.0"
    assert flag(args, "--max-model-len") == "2048"
    assert (
        flag(args, "--gpu-memory-utilization") == "0.9"
        and flag(args, "--tensor-parallel-size") == "1"
    )


def test_rendered_line_keeps_the_token_out_and_quotes_paths():
    line = vllm_serve_command("/opt/my model", "student")
    assert line.startswith("exec vllm serve '/opt/my model' ")
    assert '--api-key "${STRATOS_API_TOKEN:?API token not set}"' in line
    assert "--max-model-len" not in line


def test_rendered_line_runs_with_the_token_from_env(tmp_path):
    fake = tmp_path / "vllm"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    line = VllmServe("/opt/m", "student", token_env="MY_TOKEN").render()
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "MY_TOKEN": "s3cret value"}
    out = subprocess.run(
        ["bash", "-c", line], env=env, capture_output=True, text=True, check=True
    ).stdout
    args = out.splitlines()
    assert args[:2] == ["serve", "/opt/m"] and flag(args, "--api-key") == "s3cret value"
    missing = subprocess.run(
        ["bash", "-c", line], env={"PATH": env["PATH"]}, capture_output=True, text=True
    )
    assert missing.returncode != 0 and "API token not set" in missing.stderr


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gpu_memory_utilization": 0},
        {"gpu_memory_utilization": 1.5},
        {"tensor_parallel_size": 0},
        {"token_env": "NOT A VAR"},
    ],
)
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        VllmServe("/m", "n", **kwargs)


def test_render_round_trips_through_shlex():
    args = shlex.split(VllmServe("/m", "name with space").render())
    assert args[0] == "exec" and flag(args, "--served-model-name") == "name with space"
