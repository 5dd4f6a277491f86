"""The GCP backend under Pulumi mocks: the resource graph for a plan and its properties."""

from __future__ import annotations

import json

import pytest
from helpers.cloud_mocks import ENDPOINT_TOKEN, run_program
from helpers.cloud_plans import aws_plan, gcp_plan

from infra.backends.gcp import IMAGE_FAMILY, IMAGE_PROJECT, account_id
from infra.bootstrap.sizing import training_disk_gb
from stratos.catalog.offering import Offering
from stratos.exceptions import ConfigError
from stratos.spec import DistillationRequest

STACK = "mahjong-gcp"
P = f"urn:pulumi:{STACK}::stratos::"
BUCKET = P + "stratos:index:ArtifactStore$gcp:storage/bucket:Bucket::artifacts-bucket"
TRAIN = P + "stratos:index:TrainingCluster$gcp:compute/instance:Instance::trainer-instance"
SERVE = P + "stratos:index:ServingEndpoint$gcp:compute/instance:Instance::endpoint-instance"
FIREWALL = P + "stratos:index:ServingEndpoint$gcp:compute/firewall:Firewall::endpoint-fw"
SECRET = P + "stratos:index:ServingEndpoint$gcp:secretmanager/secret:Secret::endpoint-token"
VERSION = P + "stratos:index:ServingEndpoint$gcp:secretmanager/secretVersion:SecretVersion::endpoint-token-version"
CIDRS = ["203.0.113.0/24"]


def request(**network) -> DistillationRequest:
    return DistillationRequest(
        target="gcp", constraints={"budget_usd": 40}, network={"allowed_cidrs": CIDRS, **network}
    )


@pytest.fixture(scope="module")
def stack():
    return run_program(gcp_plan(spot=True), request(), STACK)


def test_graph_has_each_concept_parented(stack) -> None:
    urns = set(stack.resources)
    for urn in (BUCKET, TRAIN, SERVE, FIREWALL, SECRET, VERSION):
        assert urn in urns, urn
    for suffix in (
        "TrainingCluster$gcp:serviceaccount/account:Account::trainer-sa",
        "TrainingCluster$gcp:storage/bucketIAMMember:BucketIAMMember::trainer-bucket-access",
        "ServingEndpoint$gcp:serviceaccount/account:Account::endpoint-sa",
        "ServingEndpoint$gcp:storage/bucketIAMMember:BucketIAMMember::endpoint-bucket-read",
        "ServingEndpoint$gcp:secretmanager/secretIamMember:SecretIamMember::endpoint-token-access",
        "ArtifactStore$gcp:storage/bucketObject:BucketObject::artifacts-plan",
    ):
        assert P + "stratos:index:" + suffix in urns, suffix
    assert not any("firewall" in u and "-ssh" in u for u in urns), "no SSH rule unless asked"


def test_bucket_is_private_versioned_in_the_training_region(stack) -> None:
    b = stack.resources[BUCKET]
    assert b["uniformBucketLevelAccess"] is True
    assert b["publicAccessPrevention"] == "enforced"
    assert b["versioning"]["enabled"] is True
    assert b["location"] == "US-CENTRAL1"


def test_service_accounts_are_scoped_to_the_bucket_and_secret(stack) -> None:
    r = stack.resources
    bucket = r[BUCKET]["name"]
    train = r[P + "stratos:index:TrainingCluster$gcp:storage/bucketIAMMember:BucketIAMMember::trainer-bucket-access"]
    assert (train["bucket"], train["role"]) == (bucket, "roles/storage.objectUser")
    assert train["member"] == "serviceAccount:" + r[P + "stratos:index:TrainingCluster$gcp:serviceaccount/account:Account::trainer-sa"]["email"]
    read = r[P + "stratos:index:ServingEndpoint$gcp:storage/bucketIAMMember:BucketIAMMember::endpoint-bucket-read"]
    assert (read["bucket"], read["role"]) == (bucket, "roles/storage.objectViewer")
    access = r[P + "stratos:index:ServingEndpoint$gcp:secretmanager/secretIamMember:SecretIamMember::endpoint-token-access"]
    assert access["role"] == "roles/secretmanager.secretAccessor"
    assert not any(":projectIamMember:" in u or ":projectIamBinding:" in u for u in r), "no project-wide grants"


def test_firewall_opens_only_the_serving_port_to_configured_cidrs(stack) -> None:
    fw = stack.resources[FIREWALL]
    assert fw["allows"] == [{"protocol": "tcp", "ports": ["8000"]}]
    assert fw["sourceRanges"] == CIDRS and fw["direction"] == "INGRESS"
    assert fw["targetTags"] == stack.resources[SERVE]["tags"] == ["mahjong-gcp-serve"]


def test_ssh_rule_only_from_the_configured_cidr() -> None:
    s = run_program(gcp_plan(), request(ssh_cidrs=["192.0.2.7/32"]), STACK)
    fw = s.resources[P + "stratos:index:TrainingCluster$gcp:compute/firewall:Firewall::trainer-ssh"]
    assert fw["allows"] == [{"protocol": "tcp", "ports": ["22"]}] and fw["sourceRanges"] == ["192.0.2.7/32"]


def test_training_vm_is_exactly_the_plan_with_its_gpus(stack) -> None:
    plan = gcp_plan(spot=True)
    vm = stack.resources[TRAIN]
    assert vm["machineType"] == plan.train.instance_type == "g2-standard-8"
    assert vm["zone"] == plan.train.zone == "us-central1-a"
    assert vm["guestAccelerators"] == [{"type": "nvidia-l4", "count": 1}]
    sched = vm["scheduling"]
    assert sched["onHostMaintenance"] == "TERMINATE"
    assert sched["provisioningModel"] == "SPOT" and sched["preemptible"] is True and sched["automaticRestart"] is False
    disk = vm["bootDisk"]["initializeParams"]
    assert disk["size"] == training_disk_gb(plan)
    assert disk["image"].endswith(f"/projects/{IMAGE_PROJECT}/global/images/{IMAGE_FAMILY}-v20261101")
    assert ("gcp:compute/getImage:getImage", {"family": IMAGE_FAMILY, "project": IMAGE_PROJECT}) in stack.calls
    assert vm["serviceAccount"]["email"].startswith(account_id(STACK, "train") + "@")
    assert vm["labels"]["stratos-role"] == "train" and vm["labels"]["stratos-budget-cents"] == "4000"


def test_startup_script_runs_the_job_with_the_plan(stack) -> None:
    plan = gcp_plan(spot=True)
    script = stack.resources[TRAIN]["metadataStartupScript"]
    assert 'stratos distill "${JOB[@]}" --until synth' in script
    assert f"STRATOS_NPROC={plan.train.accelerator_count}\n" in script
    key = next(s["name"] for u, s in stack.resources.items() if u.endswith("::artifacts-plan"))
    assert f"STRATOS_STORE_URI=gs://{stack.resources[BUCKET]['name']}/{key.rsplit('/', 1)[0]}\n" in script
    assert "gcloud storage rsync" in script


def test_on_demand_serving_vm_and_secret_token(stack) -> None:
    plan = gcp_plan(spot=True)
    vm = stack.resources[SERVE]
    assert vm["machineType"] == plan.serve.instance_type and vm["zone"] == "us-central1-b"
    assert vm["guestAccelerators"] == [{"type": "nvidia-l4", "count": 1}]
    assert vm["scheduling"]["provisioningModel"] == "STANDARD"
    assert vm["scheduling"]["onHostMaintenance"] == "TERMINATE"
    script = vm["metadataStartupScript"]
    assert f"STRATOS_TOKEN_REF=stratos-{STACK}-endpoint-token" in script and "vllm serve" in script
    assert stack.resources[SECRET]["secretId"] == f"stratos-{STACK}-endpoint-token"
    assert stack.secret["tokenVersion.secret_data"] is True
    assert stack.secret["endpoint.token"] is True
    for urn, state in stack.resources.items():
        if urn != VERSION:
            assert ENDPOINT_TOKEN not in json.dumps(state, default=str), urn
    assert stack.values["url"] == "https://198.51.100.40:8000/v1"  # the reserved address the certificate names


def test_unknown_gpu_and_foreign_plan_are_refused() -> None:
    plan = gcp_plan()
    odd = plan.model_copy(update={"train": Offering(**{**plan.train.model_dump(), "accelerator": "MI300X"})})
    with pytest.raises(ConfigError, match="MI300X"):
        run_program(odd, request(), STACK)
    from infra.backends.cloud import check_cloud

    with pytest.raises(ConfigError, match="puts train on aws:.* not on gcp"):
        check_cloud(aws_plan(), "gcp", "train")
