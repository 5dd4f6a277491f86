"""The policy pack's rules against the AWS/GCP mock stacks: the stacks the backends
build pass every rule, and each rule catches the change it exists for."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from helpers.cloud_mocks import run_program
from helpers.cloud_plans import aws_plan, gcp_plan
from helpers.policy_views import edit, policy_request

from infra.policies.rules import (
    RULES,
    Res,
    budget_guard,
    instances_match_plan,
    no_open_ssh,
    private_encrypted_buckets,
)

ROOT = Path(__file__).resolve().parents[2]


_request = policy_request
_edit = edit


def _drop(view: list[Res], name: str) -> list[Res]:
    return [r for r in view if r.name != name]


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_backend_stacks_pass_every_rule(cloud, aws_view, gcp_view) -> None:
    view = aws_view if cloud == "aws" else gcp_view
    for name, (_, rule) in RULES.items():
        assert rule(view) == [], name


def test_budget_guard_blocks_a_plan_over_budget() -> None:
    view = run_program(aws_plan(total=55.0), _request("aws", budget=40), "mahjong-aws").policy_view()
    violations = budget_guard(view)
    assert len(violations) == 3  # both instances and the job resource carry the plan's numbers
    assert any("TrainingCluster$aws:ec2/instance:Instance::trainer-instance" in v for v in violations)
    assert any("CloudDistillationJob::distill-run" in v for v in violations)
    assert all("55.00 USD, over the budget of 40.00 USD" in v for v in violations)
    gview = run_program(gcp_plan(total=55.0), _request("gcp", budget=40), "mahjong-gcp").policy_view()
    assert len(budget_guard(gview)) == 3


def test_budget_guard_reads_the_local_job_inputs() -> None:
    urn = "urn:pulumi:local::stratos::stratos:index:DistillationJob$pulumi-python:dynamic/stratos:LocalDistillationJob::distill-job"
    job = Res("pulumi-python:dynamic/stratos:LocalDistillationJob", urn, {"estimatedTotalUsd": 4.2, "budgetUsd": 5})
    assert budget_guard([job]) == []
    over = Res(job.type, urn, {"estimatedTotalUsd": 6.5, "budgetUsd": 5})
    (v,) = budget_guard([over])
    assert v.startswith(urn) and "stratos:constraints.budget_usd" in v
    no_budget = Res(job.type, urn, {"estimatedTotalUsd": 6.5, "budgetUsd": None})
    assert budget_guard([no_budget]) == []


def test_public_or_unencrypted_s3_bucket_is_caught(aws_view) -> None:
    open_pab = _edit(aws_view, "artifacts-public-access-block", lambda p: p.update(restrictPublicBuckets=False))
    (v,) = private_encrypted_buckets(open_pab)
    assert "artifacts-bucket" in v and "BucketPublicAccessBlock" in v
    (v,) = private_encrypted_buckets(_drop(aws_view, "artifacts-encryption"))
    assert "encryption" in v
    acl = _edit(aws_view, "artifacts-bucket", lambda p: p.update(acl="public-read"))
    assert any("public-read" in v for v in private_encrypted_buckets(acl))


def test_public_gcs_bucket_is_caught(gcp_view) -> None:
    inherited = _edit(gcp_view, "artifacts-bucket", lambda p: p.update(publicAccessPrevention="inherited"))
    (v,) = private_encrypted_buckets(inherited)
    assert "public_access_prevention" in v
    fine_grained = _edit(gcp_view, "artifacts-bucket", lambda p: p.update(uniformBucketLevelAccess=False))
    assert "uniform_bucket_level_access" in private_encrypted_buckets(fine_grained)[0]


def test_ssh_from_the_world_is_caught(aws_view, gcp_view) -> None:
    def world(p):
        for rule in p["ingress"]:
            if rule["fromPort"] == 22:
                rule["cidrBlocks"] = ["0.0.0.0/0"]

    (v,) = no_open_ssh(_edit(aws_view, "trainer-sg", world))
    assert "trainer-sg" in v and "port 22" in v
    all_ports = _edit(aws_view, "endpoint-sg", lambda p: p["ingress"].append(
        {"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}))
    assert len(no_open_ssh(all_ports)) == 1
    # The serving port open to the world is allowed by this rule (it is not SSH).
    port_only = _edit(aws_view, "endpoint-sg", lambda p: p["ingress"][0].update(cidrBlocks=["0.0.0.0/0"]))
    assert no_open_ssh(port_only) == []
    gcp_world = _edit(gcp_view, "trainer-ssh", lambda p: p.update(sourceRanges=["0.0.0.0/0"]))
    (v,) = no_open_ssh(gcp_world)
    assert "trainer-ssh" in v
    every_port = _edit(gcp_view, "endpoint-fw", lambda p: p.update(sourceRanges=["0.0.0.0/0"], allows=[{"protocol": "tcp"}]))
    assert len(no_open_ssh(every_port)) == 1


def test_instances_that_differ_from_the_plan_are_caught(aws_view, gcp_view) -> None:
    bigger = _edit(aws_view, "trainer-instance", lambda p: p.update(instanceType="p4d.24xlarge"))
    (v,) = instances_match_plan(bigger)
    assert "p4d.24xlarge != planned g6.2xlarge" in v
    on_demand = _edit(aws_view, "trainer-instance", lambda p: p.pop("instanceMarketOptions"))
    assert "spot=False but the plan says spot=True" in instances_match_plan(on_demand)[0]
    more_gpus = _edit(gcp_view, "trainer-instance", lambda p: p["guestAccelerators"][0].update(count=4))
    assert "GPUs" in instances_match_plan(more_gpus)[0]
    other_zone = _edit(gcp_view, "endpoint-instance", lambda p: p.update(zone="us-central1-f"))
    assert "zone us-central1-f != planned us-central1-b" in instances_match_plan(other_zone)[0]
    untagged = _edit(aws_view, "endpoint-instance", lambda p: p["tags"].pop("stratos-role"))
    assert "no stratos-role tag" in instances_match_plan(untagged)[0]
    assert len(instances_match_plan(_drop(aws_view, "artifacts-plan"))) == 2


def test_rules_read_the_plan_the_store_holds(aws_view) -> None:
    plan_res = next(r for r in aws_view if r.name == "artifacts-plan")
    assert json.loads(plan_res.props["content"])["train"]["instance_type"] == "g6.2xlarge"


def test_policy_pack_declares_python_runtime_and_every_rule() -> None:
    import yaml

    meta = yaml.safe_load((ROOT / "infra" / "policies" / "PulumiPolicy.yaml").read_text())
    assert meta["runtime"] == "python"
    main = (ROOT / "infra" / "policies" / "__main__.py").read_text()
    assert "EnforcementLevel.MANDATORY" in main and "RULES.items()" in main
    assert len(RULES) == 4


def test_pack_unwraps_sdk_props_like_the_engine_gives_them(monkeypatch) -> None:
    """The pack's adapter turns the SDK's proxies (unknowns, secrets) into what the rules read."""
    if importlib.util.find_spec("pulumi_policy") is None:
        # scripts/setup.sh installs the policy runtime beside the Pulumi launchers
        # (it pins protobuf 5, so it stays out of the venv).
        monkeypatch.syspath_prepend(str(ROOT / ".tools" / "pulumi" / "pulumi-policy"))
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy
    from pulumi_policy.secret import Secret

    from infra.policies.adapter import plain
    from infra.policies.rules import UNKNOWN

    props = unknown_checking_proxy({"bucket": UNKNOWN_STRING_VALUE, "tags": {"a": "1"}, "content": Secret("{}"), "l": [1]})
    assert plain(props) == {"bucket": UNKNOWN, "tags": {"a": "1"}, "content": "{}", "l": [1]}
