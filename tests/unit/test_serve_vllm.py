"""The vLLM launch line: loopback only, the key through VLLM_API_KEY (never argv), a pinned release."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess

import pytest

from stratos.serve.vllm import KEY_ENV, UPSTREAM_PORT, VLLM_SPEC, VllmServe, vllm_serve_command


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_argv_has_vllm_serve_flags_and_no_key():
    args = VllmServe("/opt/model", "mahjong-student", max_model_len=2048).argv()
    assert args[:3] == ["vllm", "serve", "/opt/model"]
    assert flag(args, "--served-model-name") == "mahjong-student"
    assert "--api-key" not in args, "a key on the command line shows in ps and vLLM's arg log"
    assert flag(args, "--host") == "127.0.0.1" and flag(args, "--port") == str(UPSTREAM_PORT)
    assert flag(args, "--max-model-len") == "2048"
    assert flag(args, "--gpu-memory-utilization") == "0.9" and flag(args, "--tensor-parallel-size") == "1"
    assert VllmServe.env("tok") == {"VLLM_API_KEY": "tok"}


def test_vllm_release_is_pinned():
    assert re.fullmatch(r"vllm==\d+\.\d+\.\d+", VLLM_SPEC)


def test_rendered_line_keeps_the_token_out_and_quotes_paths():
    line = vllm_serve_command("/opt/my model", "student")
    assert line.startswith(f'{KEY_ENV}="${{STRATOS_API_TOKEN:?API token not set}}" vllm serve \'/opt/my model\' ')
    assert "--api-key" not in line and "--max-model-len" not in line


def test_rendered_line_gives_vllm_the_key_in_its_environment_only(tmp_path):
    fake = tmp_path / "vllm"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\necho "key:$VLLM_API_KEY"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    line = VllmServe("/opt/m", "student", token_env="MY_TOKEN").render()
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "MY_TOKEN": "s3cret value"}
    out = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, check=True).stdout
    assert "key:s3cret value" in out.splitlines()
    assert not [a for a in out.splitlines() if a.startswith("arg:") and "s3cret" in a]
    missing = subprocess.run(["bash", "-c", line], env={"PATH": env["PATH"]}, capture_output=True, text=True)
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
    assert args[1] == "vllm" and flag(args, "--served-model-name") == "name with space"
