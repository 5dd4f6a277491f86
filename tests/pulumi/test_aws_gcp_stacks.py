"""The real program (``infra/__main__.py``: stack config -> request -> planner -> backend)
on the cloud stacks, previewed under mocks: it deploys what `stratos plan` chooses and
exports the same ``estimatedCost``, and the policy pack passes it.

Prices come from the test catalog fixture (``tests/fixtures/catalog``), for both the
program and the `stratos plan` subprocess, so the numbers are comparable and offline.
"""

from __future__ import annotations

import csv
import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from helpers.cloud_mocks import CloudMocks, RecordingMonitor, Stack

from infra.policies.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "infra" / "__main__.py"
CATALOG = ROOT / "tests" / "fixtures" / "catalog"
INSTANCE = {"aws": "aws:ec2/instance:Instance", "gcp": "gcp:compute/instance:Instance"}


def stack_config(stack: str) -> dict[str, str]:
    """The stack file's config as the engine hands it to the program (objects as JSON)."""
    raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def stratos_plan(stack: str, catalog: Path = CATALOG) -> dict[str, Any]:
    """What `stratos plan --json` chooses for the stack file (a separate process)."""
    env = {**os.environ, "STRATOS_CATALOG_DIR": str(catalog)}
    out = subprocess.run(
        [sys.executable, "-m", "stratos.cli", "plan", "--config", str(ROOT / "stacks" / f"Pulumi.{stack}.yaml"), "--json"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["chosen"]


def preview(stack: str, monkeypatch: pytest.MonkeyPatch, catalog: Path = CATALOG,
            extra: dict[str, str] | None = None, secrets: dict[str, str] | None = None) -> tuple[Stack, dict[str, Any]]:
    """The program previewed under mocks; ``extra`` config keys as plain values, ``secrets`` as secrets."""
    monkeypatch.setenv("STRATOS_CATALOG_DIR", str(catalog))
    exports: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exports.__setitem__(name, value))
    mocks = CloudMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="stratos", stack=stack, preview=True, monitor=monitor)
    pulumi.runtime.set_all_config({**stack_config(stack), **(extra or {}), **(secrets or {})}, list(secrets or {}))

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(PROGRAM))
        return pulumi.Output.from_input(exports["endpoint"])

    program()
    result = Stack(
        resources={u: dict(r.state) for u, r in monitor.get_registered_resources().items()},
        calls=mocks.calls,
        deps=monitor.deps,
        providers=monitor.providers,
    )
    return result, exports


@pytest.mark.parametrize("stack", ["mahjong-aws", "mahjong-gcp"])
def test_preview_deploys_the_plan_and_exports_the_same_cost(stack: str, monkeypatch) -> None:
    chosen = stratos_plan(stack)
    result, exports = preview(stack, monkeypatch)
    assert exports["estimatedCost"] == chosen["cost"]
    assert exports["target"] == chosen["train"]["cloud"]
    cloud = chosen["train"]["cloud"]
    instances = result.of_type(INSTANCE[cloud])
    by_role = {s["tags" if cloud == "aws" else "labels"]["stratos-role"]: s for s in instances.values()}
    key = "instanceType" if cloud == "aws" else "machineType"
    assert by_role["train"][key] == chosen["train"]["instance_type"]
    assert by_role["serve"][key] == chosen["serve"]["instance_type"]
    view = result.policy_view()
    for name, (_, rule) in RULES.items():
        assert rule(view) == [], name


def test_multicloud_stack_deploys_where_the_planner_chose(monkeypatch) -> None:
    config = stack_config("mahjong-multicloud")
    assert sorted(json.loads(config["stratos:clouds"])) == ["aws", "gcp"]
    chosen = stratos_plan("mahjong-multicloud")
    result, exports = preview("mahjong-multicloud", monkeypatch)
    train, serve = chosen["train"]["cloud"], chosen["serve"]["cloud"]
    assert exports["target"] == train and exports["estimatedCost"] == chosen["cost"]
    roles = {
        (cloud, s["tags" if cloud == "aws" else "labels"]["stratos-role"])
        for cloud in ("aws", "gcp") for s in result.of_type(INSTANCE[cloud]).values()
    }
    assert roles == {(train, "train"), (serve, "serve")}
    # Every cloud resource is on one of the two clouds the plan chose.
    kinds = {urn.split("::")[2].split("$")[-1].split(":")[0] for urn in result.resources if "pulumi:providers" not in urn}
    assert kinds & {"aws", "gcp"} == {train, serve}


def test_multicloud_plan_training_on_aws_and_serving_on_gcp_deploys_both(monkeypatch, tmp_path) -> None:
    """With AWS spot training much cheaper, the planner trains on AWS and serves on GCP."""
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    vms = catalog / "v8" / "aws" / "vms.csv"
    with vms.open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["InstanceType"] == "g6.xlarge":
            row["SpotPrice"] = "0.01"
    with vms.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    chosen = stratos_plan("mahjong-multicloud", catalog)
    assert (chosen["train"]["cloud"], chosen["serve"]["cloud"]) == ("aws", "gcp")
    result, exports = preview("mahjong-multicloud", monkeypatch, catalog)
    assert exports["estimatedCost"] == chosen["cost"]
    (train,) = result.of_type(INSTANCE["aws"]).values()
    (serve,) = result.of_type(INSTANCE["gcp"]).values()
    assert train["instanceType"] == chosen["train"]["instance_type"]
    assert serve["machineType"] == chosen["serve"]["instance_type"]
    assert "STRATOS_STORE_URI=s3://" in serve["metadataStartupScript"]
    view = result.policy_view()
    for name, (_, rule) in RULES.items():
        assert rule(view) == [], name


def test_train_nodes_from_the_stack_config_reach_the_plan_the_price_and_the_instances(monkeypatch) -> None:
    one, one_exports = preview("mahjong-aws", monkeypatch)
    two, exports = preview("mahjong-aws", monkeypatch, extra={"stratos:job": json.dumps({"seed": 0, "nodes": 2})})
    assert exports["plan"]["train"]["instance_type"] == one_exports["plan"]["train"]["instance_type"]
    trains = [st for st in two.of_type(INSTANCE["aws"]).values() if st["tags"]["stratos-role"] == "train"]
    assert len(trains) == 2 and two.of_type("aws:ec2/placementGroup:PlacementGroup")
    # Two nodes are billed for the whole run: training costs more, though it is quicker.
    assert exports["estimatedCost"]["training_usd"] > one_exports["estimatedCost"]["training_usd"]
    assert any("2 training nodes at 85% scaling efficiency" in a for a in exports["estimatedCost"]["assumptions"])


def test_train_nodes_beyond_the_request_limit_fail_naming_the_key(monkeypatch) -> None:
    with pytest.raises(Exception, match=r"job.nodes"):
        preview("mahjong-aws", monkeypatch, extra={"stratos:job": json.dumps({"nodes": 65})})
