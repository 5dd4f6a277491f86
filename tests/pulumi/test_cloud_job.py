"""The cloud job under mocks: `pulumi up` waits on a CloudDistillationJob for the node's
marker, exports what the node reports, and serving is created only after it."""

from __future__ import annotations

import pytest
from helpers.cloud_mocks import run_program
from helpers.cloud_plans import aws_plan, gcp_plan

from stratos.spec import DistillationRequest

JOB_TYPE = "pulumi-python:dynamic/stratos:CloudDistillationJob"


def _request(target: str) -> DistillationRequest:
    return DistillationRequest(target=target, constraints={"budget_usd": 40}, network={"allowed_cidrs": ["203.0.113.0/24"]})


@pytest.mark.parametrize(("plan", "cloud", "instance"), [
    (aws_plan(), "aws", "aws:ec2/instance:Instance"),
    (gcp_plan(), "gcp", "gcp:compute/instance:Instance"),
])
def test_job_resource_waits_on_the_head_node_under_the_runs_own_prefix(plan, cloud, instance) -> None:
    stack = f"mahjong-{cloud}"
    s = run_program(plan, _request(cloud), stack)
    (job_urn, job), = s.of_type(JOB_TYPE).items()
    assert job_urn.endswith(f"stratos:index:DistillationJob${JOB_TYPE}::distill-run")
    head_urn, head = s.one(instance, "trainer-instance")
    assert job["storeUri"] == s.values["storeUri"]
    assert job["storeUri"].split("/")[-1].startswith("job-") and job["jobId"] in job["storeUri"]
    # The node id the markers carry: EC2's instance id, or the VM's name on Compute Engine.
    assert job["nodeId"] == (f"i-{abs(hash('trainer-instance')) % 10**12:012d}" if cloud == "aws" else head.get("name"))
    assert job["instanceUrn"] == head_urn, "a failure names the instance to replace"
    assert job["timeoutSeconds"] == plan.job_timeout_s(on_node=True)
    assert job["region"] == plan.train.region
    assert head_urn in s.depends_on[job_urn]
    # Exactly the local job's outputs.
    assert s.values["artifact"] == f"{job['storeUri']}/artifact"
    assert s.values["manifestHash"] == "ab" * 32 and s.values["metrics"]["student_accuracy"] == 0.83


@pytest.mark.parametrize(("plan", "cloud", "instance"), [
    (aws_plan(), "aws", "aws:ec2/instance:Instance"),
    (gcp_plan(), "gcp", "gcp:compute/instance:Instance"),
])
def test_serving_node_is_created_after_the_job_has_finished(plan, cloud, instance) -> None:
    s = run_program(plan, _request(cloud), f"mahjong-{cloud}")
    (job_urn, _), = s.of_type(JOB_TYPE).items()
    serve_urn, _ = s.one(instance, "endpoint-instance")
    assert job_urn in s.depends_on[serve_urn]


def test_a_new_plan_is_a_new_prefix_and_the_same_plan_the_same() -> None:
    base = run_program(aws_plan(), _request("aws"), "mahjong-aws").values["storeUri"]
    again = run_program(aws_plan(), _request("aws"), "mahjong-aws").values["storeUri"]
    on_demand = run_program(aws_plan(spot=False), _request("aws"), "mahjong-aws").values["storeUri"]
    repriced = run_program(aws_plan(total=33.0), _request("aws"), "mahjong-aws").values["storeUri"]
    assert base == again and on_demand != base  # another offering is another run
    assert repriced == base  # a prediction or price that moved alone is the same run (Plan.identity)
