"""Secrets to the training node under mocks: `teacherApiKey` and `hfToken` live in the cloud's
secret store (encrypted, a Pulumi secret in the state), only the training node's role can
read them, and no script, plan or other resource holds their values. A plan that needs an
unset one fails the preview naming the key."""

from __future__ import annotations

import json

import pytest
from helpers.cloud_mocks import run_program
from helpers.cloud_plans import aws_plan, gcp_plan

from stratos.exceptions import ConfigError
from stratos.spec import DistillationRequest

KEY, HF = "sk-live-teacher-7d2e", "hf_live_token_91ab"
SECRETS = {"teacher_api_key": KEY, "hf_token": HF}
P = "urn:pulumi:{stack}::stratos::stratos:index:"


def _request(target: str) -> DistillationRequest:
    return DistillationRequest(target=target, constraints={"budget_usd": 40}, network={"allowed_cidrs": ["203.0.113.0/24"]})


def _api_teacher(plan):
    return plan.model_copy(update={"teacher": "gpt-4o-mini"})


def _holders(stack, value: str) -> set[str]:
    return {urn for urn, state in stack.resources.items() if value in json.dumps(state, default=str)}


def test_aws_secrets_are_securestrings_readable_by_the_training_role_only() -> None:
    stack = "mahjong-aws"
    p = P.format(stack=stack)
    s = run_program(_api_teacher(aws_plan()), _request("aws"), stack, secrets=SECRETS)
    r = s.resources
    key_urn = p + "TrainingCluster$aws:ssm/parameter:Parameter::trainer-secret-teacher-api-key"
    hf_urn = p + "TrainingCluster$aws:ssm/parameter:Parameter::trainer-secret-hf-token"
    for urn, what in ((key_urn, "teacher-api-key"), (hf_urn, "hf-token")):
        assert r[urn]["type"] == "SecureString" and r[urn]["name"] == f"/stratos/{stack}/{what}"
    assert s.secret["cluster.secret.STRATOS_TEACHER_API_KEY.value"] is True
    assert s.secret["cluster.secret.HF_TOKEN.value"] is True
    train = json.loads(r[p + "TrainingCluster$aws:iam/rolePolicy:RolePolicy::trainer-policy"]["policy"])
    ssm = {st["Resource"] for st in train["Statement"] if st["Action"] == "ssm:GetParameter"}
    assert ssm == {r[key_urn]["arn"], r[hf_urn]["arn"]}, "the role names exactly these parameters"
    serve = json.loads(r[p + "ServingEndpoint$aws:iam/rolePolicy:RolePolicy::endpoint-policy"]["policy"])
    assert not {r[key_urn]["arn"], r[hf_urn]["arn"]} & {st["Resource"] for st in serve["Statement"]}
    ud = r[p + "TrainingCluster$aws:ec2/instance:Instance::trainer-instance"]["userData"]
    assert f"STRATOS_TEACHER_API_KEY=/stratos/{stack}/teacher-api-key" in ud and f"HF_TOKEN=/stratos/{stack}/hf-token" in ud
    # The values are in their parameters (as the mocks store inputs) and nowhere else.
    assert _holders(s, KEY) == {key_urn} and _holders(s, HF) == {hf_urn}


def test_gcp_secrets_live_in_secret_manager_readable_by_the_training_account_only() -> None:
    stack = "mahjong-gcp"
    p = P.format(stack=stack)
    s = run_program(_api_teacher(gcp_plan()), _request("gcp"), stack, secrets=SECRETS)
    r = s.resources
    secret = r[p + "TrainingCluster$gcp:secretmanager/secret:Secret::trainer-secret-teacher-api-key"]
    assert secret["secretId"] == f"stratos-{stack}-teacher-api-key"
    version_urn = p + "TrainingCluster$gcp:secretmanager/secretVersion:SecretVersion::trainer-secret-teacher-api-key-version"
    assert s.secret["cluster.secretVersion.STRATOS_TEACHER_API_KEY.secret_data"] is True
    access = r[p + "TrainingCluster$gcp:secretmanager/secretIamMember:SecretIamMember::trainer-secret-teacher-api-key-access"]
    train_sa = r[p + "TrainingCluster$gcp:serviceaccount/account:Account::trainer-sa"]["email"]
    assert (access["role"], access["member"]) == ("roles/secretmanager.secretAccessor", f"serviceAccount:{train_sa}")
    grants = [st for urn, st in r.items() if urn.split("::")[-2].endswith("SecretIamMember")
              and "trainer-secret" in urn]
    assert {g["member"] for g in grants} == {f"serviceAccount:{train_sa}"}, "no other identity reads them"
    script = r[p + "TrainingCluster$gcp:compute/instance:Instance::trainer-instance"]["metadataStartupScript"]
    assert f"STRATOS_TEACHER_API_KEY=stratos-{stack}-teacher-api-key" in script
    assert _holders(s, KEY) == {version_urn}


def test_no_secret_when_none_is_set_and_none_needed() -> None:
    s = run_program(aws_plan(), _request("aws"), "mahjong-aws")
    assert not [u for u in s.resources if "trainer-secret" in u]
    ud = next(st["userData"] for u, st in s.resources.items() if u.endswith("::trainer-instance"))
    assert "STRATOS_SECRET_REFS=''" in ud


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_api_teacher_without_its_key_fails_the_preview_naming_the_key(cloud) -> None:
    plan = _api_teacher(aws_plan() if cloud == "aws" else gcp_plan())
    with pytest.raises(ConfigError, match=r"stratos:teacherApiKey.*pulumi config set --secret"):
        run_program(plan, _request(cloud), f"mahjong-{cloud}", preview=True)


def test_an_endpoint_teacher_needs_the_key_only_when_it_names_one() -> None:
    """A teacher given as an endpoint (stratos:teacher: {base_url, model}) is reached by the
    job itself: no vLLM on the node, and a keyless server needs no stratos:teacherApiKey."""
    keyless = aws_plan().model_copy(update={"teacher": "http://10.0.0.5:8000/v1#Qwen/Qwen2.5-7B-Instruct"})
    s = run_program(keyless, _request("aws"), "mahjong-aws", preview=True)
    ud = next(st["userData"] for u, st in s.resources.items() if u.endswith("::trainer-instance"))
    assert "STRATOS_TEACHER_HUB=''" in ud, "the endpoint serves the teacher: the node starts none"
    keyed = keyless.model_copy(update={"teacher": keyless.teacher + "&api_key_env=VLLM_KEY"})
    with pytest.raises(ConfigError, match=r"stratos:teacherApiKey"):
        run_program(keyed, _request("aws"), "mahjong-aws", preview=True)


def test_gated_hub_model_without_hf_token_fails_the_preview_naming_the_key() -> None:
    gated = aws_plan().model_copy(update={"teacher": "llama-3.1-8b-instruct", "student": "llama-3.2-1b-instruct"})
    with pytest.raises(ConfigError, match=r"llama-3.1-8b-instruct, llama-3.2-1b-instruct .*gated.*stratos:hfToken"):
        run_program(gated, _request("aws"), "mahjong-aws", preview=True)
    s = run_program(gated, _request("aws"), "mahjong-aws", secrets={"hf_token": HF})
    assert any(u.endswith("::trainer-secret-hf-token") for u in s.resources)
