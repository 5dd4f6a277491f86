"""Plans that train on one cloud and serve on the other (the multicloud stack's planner
prices the two phases independently): the serving node gets read-only keys to the
training cloud's store through its own cloud's secret store, and nothing else."""

from __future__ import annotations

import json

from helpers.cloud_mocks import run_program, unsecret
from helpers.cloud_plans import aws_plan, gcp_plan

from infra.backends.gcp import GCS_S3_ENDPOINT, account_id
from infra.policies.rules import RULES
from stratos.spec import DistillationRequest

STACK = "mahjong-multicloud"
P = f"urn:pulumi:{STACK}::stratos::stratos:index:"
REQUEST = DistillationRequest(
    target="aws", clouds=["aws", "gcp"], constraints={"budget_usd": 40}, network={"allowed_cidrs": ["203.0.113.0/24"]}
)


def _mixed(train_plan, serve_plan):
    return train_plan.model_copy(update={"serve": serve_plan.serve})


def test_train_on_aws_serve_on_gcp() -> None:
    plan = _mixed(aws_plan(), gcp_plan())
    s = run_program(plan, REQUEST, STACK)
    r = s.resources
    bucket = r[P + "ArtifactStore$aws:s3/bucket:Bucket::artifacts-bucket"]
    # Read-only keys on the AWS side, scoped to the run prefix.
    policy = json.loads(r[P + "ServingEndpoint$aws:iam/userPolicy:UserPolicy::endpoint-store-reader-policy"]["policy"])
    assert {st["Resource"] for st in policy["Statement"]} == {bucket["arn"], f"{bucket['arn']}/runs/{STACK}/*"}
    assert "s3:PutObject" not in json.dumps(policy)
    # Kept in GCP Secret Manager, readable by the serving VM only, and secret in the state.
    creds = r[P + "ServingEndpoint$gcp:secretmanager/secret:Secret::endpoint-store-credentials"]
    assert creds["secretId"] == f"stratos-{STACK}-store-credentials"
    # The keys reach the secret store as a Pulumi secret (the engine also encrypts the
    # access key's own `secret` output: additional_secret_outputs, not modelled by mocks).
    assert s.secret["storeCredentialsVersion.secret_data"] is True
    access = r[P + "ServingEndpoint$gcp:secretmanager/secretIamMember:SecretIamMember::endpoint-store-credentials-access"]
    assert access["role"] == "roles/secretmanager.secretAccessor" and access["member"].startswith("serviceAccount:")
    vm = r[P + "ServingEndpoint$gcp:compute/instance:Instance::endpoint-instance"]
    script = vm["metadataStartupScript"]
    assert f"STRATOS_STORE_URI=s3://{bucket['bucket']}/runs/{STACK}" in script
    assert 'STRATOS_STORE_KIND="${STRATOS_STORE_KIND:-s3}"' in script
    assert f"STRATOS_STORE_ENV_REF=stratos-{STACK}-store-credentials" in script
    assert "mock-aws-reader-secret" not in script
    assert vm["machineType"] == plan.serve.instance_type and vm["zone"] == plan.serve.zone
    assert not s.of_type("gcp:storage/bucket:Bucket"), "one store: the training cloud's"
    for name, (_, rule) in RULES.items():
        assert rule(s.policy_view()) == [], name


def test_train_on_gcp_serve_on_aws() -> None:
    plan = _mixed(gcp_plan(), aws_plan())
    s = run_program(plan, REQUEST, STACK)
    r = s.resources
    bucket = r[P + "ArtifactStore$gcp:storage/bucket:Bucket::artifacts-bucket"]["name"]
    grant = r[P + "ServingEndpoint$gcp:storage/bucketIAMMember:BucketIAMMember::endpoint-store-reader-access"]
    assert (grant["bucket"], grant["role"]) == (bucket, "roles/storage.objectViewer")
    hmac = r[P + "ServingEndpoint$gcp:storage/hmacKey:HmacKey::endpoint-store-reader-key"]
    assert hmac["serviceAccountEmail"].startswith(account_id(STACK, "reader") + "@")
    param = r[P + "ServingEndpoint$aws:ssm/parameter:Parameter::endpoint-store-credentials"]
    assert param["type"] == "SecureString" and param["name"] == f"/stratos/{STACK}/store-credentials"
    assert s.secret["storeCredentials.value"] is True
    hmac_secret = s.resources[P + "ServingEndpoint$gcp:storage/hmacKey:HmacKey::endpoint-store-reader-key"]["secret"]
    assert hmac_secret == "mock-gcs-hmac-secret/xyz+uvw"  # as stored: the checks below are not vacuous
    assert "STRATOS_S3_ENDPOINT=" + GCS_S3_ENDPOINT in unsecret(param["value"])
    role = json.loads(r[P + "ServingEndpoint$aws:iam/rolePolicy:RolePolicy::endpoint-policy"]["policy"])
    token_arn = r[P + "ServingEndpoint$aws:ssm/parameter:Parameter::endpoint-token"]["arn"]
    tls_key = r[P + "ServingEndpoint$aws:ssm/parameter:Parameter::endpoint-tls-key"]["arn"]
    assert {st["Resource"] for st in role["Statement"]} == {token_arn, param["arn"], tls_key}
    ud = r[P + "ServingEndpoint$aws:ec2/instance:Instance::endpoint-instance"]["userData"]
    assert f"STRATOS_STORE_URI=s3://{bucket}/runs/{STACK}" in ud
    assert f"STRATOS_STORE_ENV_REF=/stratos/{STACK}/store-credentials" in ud
    assert "mock-gcs-hmac-secret" not in ud
    for name, (_, rule) in RULES.items():
        assert rule(s.policy_view()) == [], name
