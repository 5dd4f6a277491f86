"""SkyPilot interop: ``stratos plan --emit-sky`` writes a task ``sky.Task.from_yaml`` loads, with the
plan's offering; ``stratos gpus`` lists the catalog like ``sky show-gpus``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = str(ROOT / "tests" / "fixtures" / "catalog")


def _stratos(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, STRATOS_CACHE=str(cache), SKYPILOT_DISABLE_USAGE_COLLECTION="1")
    return subprocess.run([sys.executable, "-m", "stratos.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT)


def _request(tmp_path: Path, **extra) -> Path:
    req = {"task": "mahjong", "target": "aws", "constraints": {"budget_usd": 5000}, **extra}
    path = tmp_path / "req.yaml"
    path.write_text(yaml.safe_dump(req))
    return path


def test_emit_sky_writes_a_task_skypilot_loads_with_the_chosen_offering(tmp_path):
    out = _stratos("plan", "--config", str(_request(tmp_path, gpus=["l4:1"], spot=True)), "--catalog", FIXTURE,
                   "--json", "--emit-sky", str(tmp_path / "task.yaml"), cache=tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    chosen = json.loads(out.stdout)["chosen"]["train"]
    loader = ("import sys, sky; t = sky.Task.from_yaml(sys.argv[1]); r = next(iter(t.resources)); "
              "print(t.num_nodes, r.cloud, r.region, r.instance_type, r.accelerators, r.use_spot)")
    env = dict(os.environ, SKYPILOT_DISABLE_USAGE_COLLECTION="1", HOME=str(tmp_path))
    loaded = subprocess.run([sys.executable, "-c", loader, str(tmp_path / "task.yaml")],
                            capture_output=True, text=True, env=env)
    assert loaded.returncode == 0, loaded.stderr
    nodes, cloud, region, itype, accs, spot = _fields(loaded.stdout)
    assert nodes == "1" and cloud.lower() == chosen["cloud"] and region == chosen["region"]
    assert itype == chosen["instance_type"] and accs == f"{{'L4': {chosen['accelerator_count']}}}"
    assert spot == str(chosen["spot"])
    task = yaml.safe_load((tmp_path / "task.yaml").read_text())
    plan = json.loads((tmp_path / "task.plan.json").read_text())
    assert plan["train"] == chosen and "torch.distributed.run" in task["run"] and "--until synth" in task["run"]


def _fields(line: str) -> tuple[str, ...]:
    """``1 AWS us-east-1 g6.xlarge {'L4': 1} True`` -> its six fields (the dict holds a space)."""
    head, rest = line.strip().split(" {", 1)
    accs, spot = rest.rsplit("} ", 1)
    return (*head.split(), "{" + accs + "}", spot)


def test_emit_sky_refuses_a_local_plan(tmp_path):
    req = tmp_path / "req.yaml"
    req.write_text(yaml.safe_dump({"task": "mahjong", "target": "local", "job": {"profile": "fast"}}))
    out = _stratos("plan", "--config", str(req), "--emit-sky", str(tmp_path / "t.yaml"), cache=tmp_path / "cache")
    assert out.returncode == 2 and "--emit-sky" in out.stderr and "target: aws or gcp" in out.stderr


def test_gpus_lists_counts_and_prices_and_details_one_name_in_any_case(tmp_path):
    out = _stratos("gpus", "--catalog", FIXTURE, "--json", cache=tmp_path)
    rows = {r["gpu"]: r for r in json.loads(out.stdout)}
    assert rows["A100"]["counts"] == [1, 8] and rows["A100"]["clouds"] == ["aws", "gcp"] and rows["A100"]["memory_gb"] == 40
    detail = json.loads(_stratos("gpus", "a100:8", "--catalog", FIXTURE, "--json", cache=tmp_path).stdout)
    assert detail and all(r["gpu"] == "A100" and r["count"] == 8 for r in detail)
    assert all(r["usd_per_hour"] is None or r["usd_per_hour"] > 0 for r in detail)


@pytest.mark.parametrize(("name", "fragment"), [("H10", "did you mean 'H100'"), ("A100:0", "whole number")])
def test_gpus_bad_name_is_one_line(tmp_path, name, fragment):
    out = _stratos("gpus", name, "--catalog", FIXTURE, cache=tmp_path)
    assert out.returncode == 2 and fragment in out.stderr and len(out.stderr.strip().splitlines()) == 1
