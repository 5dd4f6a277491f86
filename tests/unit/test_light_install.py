"""Planning needs no training stack: ``pip install 'stratos[plan]'`` (no torch) is enough for
``stratos plan`` and ``pulumi preview``.

Two checks. Fast: ``stratos plan`` and ``pulumi preview`` run with the training and serving
packages made unimportable (a ``sitecustomize`` on ``PYTHONPATH`` that refuses them, so
subprocesses such as the SkyPilot catalog reader and Pulumi's language host are covered too).
Slow: a fresh venv with only ``.[plan]`` installed from the wheelhouse plans a cloud stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "catalog"
#: What only training and serving nodes install (SkyPilot brings fastapi/uvicorn, so they may load).
HEAVY = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "safetensors", "gguf",
         "openai", "huggingface_hub", "vllm")
BLOCKER = f'''
import sys

HEAVY = {HEAVY!r}


class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"{{name}} imported while planning (stratos[plan] does not install it)")
        return None


sys.meta_path.insert(0, _Refuse())
'''


@pytest.fixture
def light_env(tmp_path) -> dict[str, str]:
    """The environment of a process for which torch & co. do not exist."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": str(tmp_path), "STRATOS_CATALOG_DIR": str(FIXTURE)}


def test_the_blocker_blocks(light_env):
    out = subprocess.run([sys.executable, "-c", "import torch"], env=light_env, capture_output=True, text=True)
    assert out.returncode != 0 and "imported while planning" in out.stderr


@pytest.mark.slow
def test_stratos_plan_on_a_cloud_stack_needs_no_training_stack(light_env):
    out = subprocess.run(
        [sys.executable, "-m", "stratos.cli", "plan", "--config", str(ROOT / "stacks" / "Pulumi.mahjong-aws.yaml"), "--json"],
        env=light_env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout)["chosen"]["train"]["cloud"] == "aws"


@pytest.mark.engine
@pytest.mark.slow
def test_pulumi_preview_needs_no_training_stack(tmp_path, light_env):
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from test_local_stack import FAST_CONFIG, LocalProject, free_port

    project = LocalProject(tmp_path / "p", "light", {**FAST_CONFIG, "stratos:network": {"serving_port": free_port()}})
    project.env["PYTHONPATH"] = light_env["PYTHONPATH"]
    out = project.pulumi("preview")
    assert "estimatedCost" in out.stdout


@pytest.mark.e2e  # a real install: minutes (10 on the shared 2-core box)
@pytest.mark.slow
def test_a_venv_with_only_the_plan_extra_plans_a_cloud_stack(tmp_path):
    wheels = Path(os.environ.get("STRATOS_WHEELHOUSE", Path.home() / ".cache" / "stratos" / "wheels"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels), f"{ROOT}[plan]"],
        capture_output=True, text=True, timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    assert subprocess.run([str(py), "-c", "import torch"], capture_output=True).returncode != 0
    env = {**os.environ, "STRATOS_CATALOG_DIR": str(FIXTURE), "PYTHONPATH": ""}
    out = subprocess.run(
        [str(env_dir / "bin" / "stratos"), "plan", "--config", str(ROOT / "stacks" / "Pulumi.mahjong-gcp.yaml"), "--json"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout)["chosen"]["train"]["cloud"] == "gcp"
    for module in ("pulumi", "pulumi_aws", "pulumi_gcp", "sky"):  # what `pulumi preview` of a cloud stack imports
        assert subprocess.run([str(py), "-c", f"import {module}"], capture_output=True).returncode == 0, module
