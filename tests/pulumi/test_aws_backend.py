"""The AWS backend under Pulumi mocks: the resource graph for a plan and its properties."""

from __future__ import annotations

import json
import re

import pytest
from helpers.cloud_mocks import AZ_NAMES, ENDPOINT_TOKEN, run_program
from helpers.cloud_plans import aws_plan, gcp_plan

from infra.backends.aws import DLAMI_NAME
from infra.bootstrap.sizing import serving_disk_gb, training_disk_gb
from stratos.exceptions import ConfigError
from stratos.spec import DistillationRequest, Network

STACK = "mahjong-aws"
P = f"urn:pulumi:{STACK}::stratos::"
BUCKET = P + "stratos:index:ArtifactStore$aws:s3/bucket:Bucket::artifacts-bucket"
TRAIN = P + "stratos:index:TrainingCluster$aws:ec2/instance:Instance::trainer-instance"
SERVE = P + "stratos:index:ServingEndpoint$aws:ec2/instance:Instance::endpoint-instance"
TRAIN_SG = P + "stratos:index:TrainingCluster$aws:ec2/securityGroup:SecurityGroup::trainer-sg"
SERVE_SG = P + "stratos:index:ServingEndpoint$aws:ec2/securityGroup:SecurityGroup::endpoint-sg"
TOKEN_PARAM = P + "stratos:index:ServingEndpoint$aws:ssm/parameter:Parameter::endpoint-token"
CIDRS = ["203.0.113.0/24", "198.51.100.0/24"]


def request(**network) -> DistillationRequest:
    return DistillationRequest(
        target="aws",
        constraints={"budget_usd": 40, "serving_hours": 24},
        network={"allowed_cidrs": CIDRS, **network},
    )


@pytest.fixture(scope="module")
def spot_stack():
    return run_program(aws_plan(spot=True), request(), STACK)


def test_graph_has_each_concept_parented(spot_stack) -> None:
    urns = set(spot_stack.resources)
    for suffix in (
        "ArtifactStore$pulumi:providers:aws::artifacts-aws-us-east-1",
        "ArtifactStore$aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::artifacts-public-access-block",
        "ArtifactStore$aws:s3/bucketVersioning:BucketVersioning::artifacts-versioning",
        "ArtifactStore$aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration::artifacts-encryption",
        "ArtifactStore$aws:s3/bucketOwnershipControls:BucketOwnershipControls::artifacts-ownership",
        "ArtifactStore$aws:s3/bucketObjectv2:BucketObjectv2::artifacts-plan",
        "TrainingCluster$aws:iam/role:Role::trainer-role",
        "TrainingCluster$aws:iam/rolePolicy:RolePolicy::trainer-policy",
        "TrainingCluster$aws:iam/instanceProfile:InstanceProfile::trainer-profile",
        "ServingEndpoint$aws:iam/instanceProfile:InstanceProfile::endpoint-profile",
    ):
        assert P + "stratos:index:" + suffix in urns, suffix
    for urn in (BUCKET, TRAIN, SERVE, TRAIN_SG, SERVE_SG, TOKEN_PARAM):
        assert urn in urns, urn


def test_provider_is_pinned_to_the_planned_region(spot_stack) -> None:
    provider_urn = P + "stratos:index:ArtifactStore$pulumi:providers:aws::artifacts-aws-us-east-1"
    provider = spot_stack.resources[provider_urn]
    assert provider["region"] == "us-east-1"
    assert json.loads(provider["defaultTags"])["tags"]["stratos-stack"] == STACK
    for urn in (BUCKET, TRAIN, SERVE, TOKEN_PARAM):
        assert spot_stack.providers[urn].startswith(provider_urn + "::"), urn


def test_bucket_is_private_versioned_encrypted(spot_stack) -> None:
    r = spot_stack.resources
    pab = r[P + "stratos:index:ArtifactStore$aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::artifacts-public-access-block"]
    assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    bucket_name = r[BUCKET]["bucket"]
    assert pab["bucket"] == bucket_name
    ver = r[P + "stratos:index:ArtifactStore$aws:s3/bucketVersioning:BucketVersioning::artifacts-versioning"]
    assert ver["versioningConfiguration"]["status"] == "Enabled"
    sse = r[P + "stratos:index:ArtifactStore$aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration::artifacts-encryption"]
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    own = r[P + "stratos:index:ArtifactStore$aws:s3/bucketOwnershipControls:BucketOwnershipControls::artifacts-ownership"]
    assert own["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    plan_obj = r[P + "stratos:index:ArtifactStore$aws:s3/bucketObjectv2:BucketObjectv2::artifacts-plan"]
    assert re.fullmatch(rf"runs/{STACK}/job-[0-9a-f]{{16}}/plan.json", plan_obj["key"]), "one prefix per run"
    assert json.loads(plan_obj["content"]) == aws_plan(spot=True).model_dump(mode="json")


def test_iam_allows_only_the_bucket_and_the_token(spot_stack) -> None:
    r = spot_stack.resources
    arn = r[BUCKET]["arn"]
    train = json.loads(r[P + "stratos:index:TrainingCluster$aws:iam/rolePolicy:RolePolicy::trainer-policy"]["policy"])
    resources = {s["Resource"] for s in train["Statement"]}
    assert resources == {arn, f"{arn}/runs/{STACK}/*"}
    assert "s3:PutObject" in json.dumps(train) and "*" not in {s["Resource"] for s in train["Statement"]}
    serve = json.loads(r[P + "stratos:index:ServingEndpoint$aws:iam/rolePolicy:RolePolicy::endpoint-policy"]["policy"])
    tls_key = r[P + "stratos:index:ServingEndpoint$aws:ssm/parameter:Parameter::endpoint-tls-key"]["arn"]
    assert {s["Resource"] for s in serve["Statement"]} == {arn, f"{arn}/runs/{STACK}/*", r[TOKEN_PARAM]["arn"], tls_key}
    assert "s3:PutObject" not in json.dumps(serve), "the serving node only reads the artifact"
    role = json.loads(r[P + "stratos:index:TrainingCluster$aws:iam/role:Role::trainer-role"]["assumeRolePolicy"])
    assert role["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_security_groups_open_only_the_serving_port_to_configured_cidrs(spot_stack) -> None:
    r = spot_stack.resources
    assert r[TRAIN_SG].get("ingress") in (None, []), "the training node accepts no connections"
    (rule,) = r[SERVE_SG]["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 8000, 8000)
    assert rule["cidrBlocks"] == CIDRS


def test_ssh_only_when_asked_and_never_from_the_world() -> None:
    stack = run_program(aws_plan(), request(ssh_cidrs=["192.0.2.7/32"]), STACK)
    ssh = [i for i in stack.resources[TRAIN_SG]["ingress"] if i["fromPort"] == 22]
    assert ssh and ssh[0]["cidrBlocks"] == ["192.0.2.7/32"]
    # The request model refuses 0.0.0.0/0 already; the backend refuses it again on its own.
    bad = request().model_copy(update={"network": Network.model_construct(serving_port=8000, allowed_cidrs=CIDRS, ssh_cidrs=["0.0.0.0/0"])})
    with pytest.raises(ConfigError, match="opens SSH to the whole internet"):
        run_program(aws_plan(), bad, STACK)


def test_training_instance_is_exactly_the_plan(spot_stack) -> None:
    plan = aws_plan(spot=True)
    inst = spot_stack.resources[TRAIN]
    assert inst["instanceType"] == plan.train.instance_type == "g6.2xlarge"
    assert inst["availabilityZone"] == AZ_NAMES[plan.train.zone]
    assert ("aws:index/getAvailabilityZone:getAvailabilityZone", {"zoneId": "use1-az2"}) in spot_stack.calls
    assert inst["instanceMarketOptions"]["marketType"] == "spot"
    assert inst["instanceMarketOptions"]["spotOptions"] == {
        "spotInstanceType": "persistent", "instanceInterruptionBehavior": "stop",
    }
    assert inst["instanceInitiatedShutdownBehavior"] == "stop"
    assert inst["metadataOptions"]["httpTokens"] == "required"
    root = inst["rootBlockDevice"]
    assert root["encrypted"] is True and root["volumeSize"] == training_disk_gb(plan)
    assert inst["ami"] == "ami-0dl4b2c3d4e5f6a7b"
    ami_calls = [a for t, a in spot_stack.calls if t == "aws:ec2/getAmi:getAmi"]
    assert ami_calls and all(
        {"name": "name", "values": [DLAMI_NAME["x86_64"]]} in a["filters"] and a["owners"] == ["amazon"] for a in ami_calls
    )
    assert inst["iamInstanceProfile"].startswith("trainer-profile")
    assert inst["tags"]["stratos-role"] == "train"
    assert inst["tags"]["stratos-estimated-total-cents"] == "3150"
    assert inst["tags"]["stratos-budget-cents"] == "4000"


def test_training_user_data_runs_the_job_with_the_plan(spot_stack) -> None:
    plan = aws_plan(spot=True)
    ud = spot_stack.resources[TRAIN]["userData"]
    assert ud.startswith("#!/bin/bash")
    assert 'stratos distill "${JOB[@]}" --until synth' in ud
    assert 'python3 -m torch.distributed.run "${rdzv[@]}" --nproc_per_node "$STRATOS_NPROC" -m stratos.distill' in ud
    assert f"STRATOS_NPROC={plan.train.accelerator_count}\n" in ud and "STRATOS_NODES=1\n" in ud
    # The node reads the plan Pulumi wrote under the run's own prefix.
    bucket = spot_stack.resources[BUCKET]["bucket"]
    key = spot_stack.resources[P + "stratos:index:ArtifactStore$aws:s3/bucketObjectv2:BucketObjectv2::artifacts-plan"]["key"]
    assert f"STRATOS_STORE_URI=s3://{bucket}/{key.rsplit('/', 1)[0]}\n" in ud
    assert 'store_get_file "$STRATOS_STORE_URI/plan.json"' in ud
    assert spot_stack.resources[TRAIN]["userDataReplaceOnChange"] is True


def test_graviton_gpu_gets_the_arm64_ami() -> None:
    plan = aws_plan()
    arm = plan.model_copy(update={"serve": plan.serve.model_copy(update={"instance_type": "g5g.xlarge", "accelerator": "T4g"})})
    stack = run_program(arm, request(), STACK)
    filters = [a["filters"] for t, a in stack.calls if t == "aws:ec2/getAmi:getAmi"]
    assert {"name": "architecture", "values": ["arm64"]} in [f for fs in filters for f in fs]
    assert {"name": "name", "values": [DLAMI_NAME["arm64"]]} in [f for fs in filters for f in fs]
    assert stack.resources[SERVE]["instanceType"] == "g5g.xlarge"


def test_on_demand_plan_has_no_spot_options() -> None:
    stack = run_program(aws_plan(spot=False), request(), STACK)
    inst = stack.resources[TRAIN]
    assert not inst.get("instanceMarketOptions")
    assert inst["instanceInitiatedShutdownBehavior"] == "stop"


def test_serving_instance_waits_for_marker_and_serves_behind_secret_token(spot_stack) -> None:
    plan = aws_plan(spot=True)
    r = spot_stack.resources
    inst = r[SERVE]
    assert inst["instanceType"] == plan.serve.instance_type == "g6.xlarge"
    assert inst["availabilityZone"] == AZ_NAMES[plan.serve.zone]
    assert not inst.get("instanceMarketOptions")
    assert inst["metadataOptions"]["httpTokens"] == "required"
    assert inst["rootBlockDevice"]["encrypted"] is True
    assert inst["rootBlockDevice"]["volumeSize"] == serving_disk_gb(plan)
    ud = inst["userData"]
    assert "_COMPLETE.json" in ud and "vllm serve" in ud
    assert f"STRATOS_TOKEN_REF=/stratos/{STACK}/endpoint-token" in ud
    assert r[TOKEN_PARAM]["type"] == "SecureString"
    assert spot_stack.values["url"] == "https://203.0.113.50:8000/v1"  # the Elastic IP the certificate names


def test_token_stays_secret_and_out_of_every_other_resource(spot_stack) -> None:
    assert spot_stack.secret["endpoint.token"] is True
    assert spot_stack.secret["tokenResource.value"] is True, "the SSM parameter value must be a secret output"
    for urn, state in spot_stack.resources.items():
        if urn != TOKEN_PARAM:
            assert ENDPOINT_TOKEN not in json.dumps(state, default=str), urn


def test_preview_registers_the_same_graph() -> None:
    preview = run_program(aws_plan(), request(), STACK, preview=True)
    assert {TRAIN, SERVE, BUCKET, TOKEN_PARAM} <= set(preview.resources)
    assert preview.resources[TRAIN]["instanceType"] == "g6.2xlarge"


def test_backend_refuses_a_plan_for_another_cloud() -> None:
    from infra.backends.cloud import check_cloud

    with pytest.raises(ConfigError, match="puts train on gcp:.* not on aws"):
        check_cloud(gcp_plan(), "aws", "train")
