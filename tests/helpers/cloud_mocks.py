"""Pulumi unit-test mocks for the AWS and GCP backends.

``CloudMocks`` answers the lookups the backends make (the Deep Learning AMI, the
AZ name for an AZ ID, the GCP image) and returns realistic outputs per type token
(ARNs, IDs, IPs, generated bucket names), the way the providers would.
``run_program`` runs the program's wiring (``infra.program.build``) for a plan and
returns every registered resource by URN, plus the secret-ness of outputs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

from stratos.planner.plan import Plan
from stratos.spec import DistillationRequest

MOCK_CERT = "-----BEGIN CERTIFICATE-----\nMIIBmockcertificate\n-----END CERTIFICATE-----\n"
MOCK_KEY = "-----BEGIN PRIVATE KEY-----\nmock-tls-private-key\n-----END PRIVATE KEY-----\n"
AZ_NAMES = {"use1-az1": "us-east-1a", "use1-az2": "us-east-1c", "use1-az4": "us-east-1d"}
ENDPOINT_TOKEN = "tok-9d1c-mock-endpoint-token"


class CloudMocks(pulumi.runtime.Mocks):
    """Provider outputs per type token; lookups recorded in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outs = dict(args.inputs)
        name, typ = args.name, args.typ
        rid = f"{name}-id"
        if typ == "aws:s3/bucket:Bucket":
            bucket = f"{outs.get('bucketPrefix', '')}0a1b2c3d"
            rid = bucket
            outs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
        elif typ == "aws:iam/role:Role":
            outs.update(name=f"{name}-7f3e", arn=f"arn:aws:iam::123456789012:role/{name}-7f3e")
        elif typ == "aws:iam/instanceProfile:InstanceProfile":
            outs.update(name=f"{name}-1a2b", arn=f"arn:aws:iam::123456789012:instance-profile/{name}-1a2b")
        elif typ == "aws:ssm/parameter:Parameter":
            outs["arn"] = f"arn:aws:ssm:us-east-1:123456789012:parameter{outs['name']}"
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            rid = f"sg-{abs(hash(name)) % 10**8:08d}"
            outs["arn"] = f"arn:aws:ec2:us-east-1:123456789012:security-group/{rid}"
        elif typ == "aws:ec2/instance:Instance":
            rid = f"i-{abs(hash(name)) % 10**12:012d}"
            outs.update(publicIp="203.0.113.10", privateIp="10.0.1.23", arn=f"arn:aws:ec2:::instance/{rid}")
        elif typ == "gcp:storage/bucket:Bucket":
            outs.setdefault("name", f"{name}-5e6f7a8")
            rid = outs["name"]
            outs["url"] = f"gs://{outs['name']}"
        elif typ == "gcp:serviceaccount/account:Account":
            outs["email"] = f"{outs['accountId']}@stratos-demo.iam.gserviceaccount.com"
            outs["member"] = f"serviceAccount:{outs['email']}"
        elif typ == "gcp:secretmanager/secret:Secret":
            outs["name"] = f"projects/123/secrets/{outs['secretId']}"
        elif typ == "gcp:compute/instance:Instance":
            outs.setdefault("name", f"{name}-1a2b3c4")
            nics = outs.get("networkInterfaces") or [{}]
            # Like the provider: an internal IP when none was reserved; an ephemeral external one
            # only for an access config without a reserved natIp.
            configs = [{**c, "natIp": c.get("natIp") or "198.51.100.20"} for c in nics[0].get("accessConfigs") or []]
            nics[0] = {**nics[0], "networkIp": nics[0].get("networkIp") or "10.128.0.7", "accessConfigs": configs}
            outs["networkInterfaces"] = nics
            outs["selfLink"] = f"https://www.googleapis.com/compute/v1/projects/stratos-demo/zones/{outs.get('zone')}/instances/{name}"
        elif typ == "aws:iam/user:User":
            outs.update(name=f"{name}-3c4d", arn=f"arn:aws:iam::123456789012:user/{name}-3c4d")
        elif typ == "aws:iam/accessKey:AccessKey":
            rid = "AKIAMOCKREADER0000001"
            outs["secret"] = "mock-aws-reader-secret/abc+def"
        elif typ == "gcp:storage/hmacKey:HmacKey":
            outs.update(accessId="GOOG1EMOCKREADER", secret="mock-gcs-hmac-secret/xyz+uvw")
        elif typ.startswith("pulumi-python:dynamic") and typ.endswith("GeneratedToken"):
            outs["value"] = ENDPOINT_TOKEN
        elif typ.startswith("pulumi-python:dynamic") and typ.endswith("CloudDistillationJob"):
            outs.update(artifactUri=f"{outs['storeUri']}/artifact", manifestHash="ab" * 32,
                        metrics={"student_accuracy": 0.83, "n_test": 500})
        elif typ == "aws:ec2/placementGroup:PlacementGroup":
            outs["name"] = f"{name}-4e5f"
        elif typ == "gcp:compute/resourcePolicy:ResourcePolicy":
            outs["selfLink"] = f"https://www.googleapis.com/compute/v1/projects/stratos-demo/regions/{outs.get('region')}/resourcePolicies/{name}"
        elif typ.startswith("pulumi-python:dynamic") and typ.endswith("SelfSignedCertificate"):
            outs.update(certPem=MOCK_CERT, keyPem=MOCK_KEY, sha256="sha256:MOCK")
        elif typ == "aws:ec2/eip:Eip":
            rid = "eipalloc-0mock"
            outs.update(publicIp="203.0.113.50", allocationId=rid)
        elif typ == "gcp:compute/address:Address":
            outs["address"] = "198.51.100.40" if outs.get("addressType") == "EXTERNAL" else "10.1.0.40"
        elif typ == "gcp:compute/network:Network":
            outs["selfLink"] = f"https://www.googleapis.com/compute/v1/projects/stratos-demo/global/networks/{name}"
        return rid, outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:ec2/getAmi:getAmi":
            arch = next(f["values"][0] for f in args.args["filters"] if f["name"] == "architecture")
            return {
                "id": "ami-0dl4b2c3d4e5f6a7b",
                "name": "Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.8 (Ubuntu 22.04) 20261101",
                "architecture": arch,
                "rootDeviceName": "/dev/sda1",
            }
        if args.token == "aws:index/getAvailabilityZone:getAvailabilityZone":
            zone_id = args.args["zoneId"]
            return {"id": zone_id, "zoneId": zone_id, "name": AZ_NAMES[zone_id], "region": "us-east-1"}
        if args.token == "gcp:compute/getImage:getImage":
            family, project = args.args.get("family"), args.args.get("project")
            return {
                "family": family,
                "project": project,
                "name": f"{family}-v20261101",
                "selfLink": f"https://www.googleapis.com/compute/v1/projects/{project}/global/images/{family}-v20261101",
            }
        if args.token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            return {"emailAddress": "service-123@gs-project-accounts.iam.gserviceaccount.com"}
        return {}


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def unsecret(value: Any) -> Any:
    """Serialized secrets ({sig: ..., value: v}) as their values, as the policy SDK gives them."""
    if isinstance(value, dict):
        if SECRET_SIG in value and "value" in value:
            return unsecret(value["value"])
        return {k: unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsecret(v) for v in value]
    return value


class RecordingMonitor(MockMonitor):
    """MockMonitor that also keeps each resource's provider and property dependencies,
    which the policy rules use the way the engine gives them to a policy pack."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.deps: dict[str, dict[str, list[str]]] = {}
        self.depends_on: dict[str, list[str]] = {}
        self.providers: dict[str, str] = {}

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        self.deps[response.urn] = {k: list(v.urns) for k, v in request.propertyDependencies.items()}
        self.depends_on[response.urn] = list(request.dependencies)
        self.providers[response.urn] = request.provider
        return response


@dataclass
class Stack:
    """What a mock run registered: resources by URN (state = inputs + provider outputs)."""

    resources: dict[str, dict[str, Any]]
    calls: list[tuple[str, dict[str, Any]]]
    values: dict[str, Any] = field(default_factory=dict)
    secret: dict[str, bool] = field(default_factory=dict)
    deps: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    depends_on: dict[str, list[str]] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)

    def policy_view(self) -> list:
        """The resources as the policy pack's rules receive them."""
        from infra.policies.rules import Res

        return [
            Res(type=urn.split("::")[2].split("$")[-1], urn=urn, props=unsecret(state), deps=self.deps.get(urn, {}))
            for urn, state in self.resources.items()
        ]

    def of_type(self, typ: str) -> dict[str, dict[str, Any]]:
        return {urn: s for urn, s in self.resources.items() if urn.split("::")[2].split("$")[-1] == typ}

    def one(self, typ: str, name: str) -> tuple[str, dict[str, Any]]:
        """The single resource of ``typ`` whose URN ends with ``::name``."""
        hits = [(u, s) for u, s in self.of_type(typ).items() if u.endswith(f"::{name}")]
        assert len(hits) == 1, f"expected one {typ} named {name}, got {[u for u, _ in hits]} in {list(self.resources)}"
        return hits[0]


def make_settings(request: DistillationRequest, stack: str, token: pulumi.Input[str] | None = None,
                  secrets: dict[str, str] | None = None):
    """Settings as ``load_settings`` builds them; ``secrets`` maps Settings fields
    (``teacher_api_key``, ``hf_token``) to values, made Pulumi secrets here."""
    from infra.config import Settings

    extra = {k: pulumi.Output.secret(v) for k, v in (secrets or {}).items()}
    return Settings(
        project="stratos",
        stack=stack,
        request=request,
        teacher_api_key=extra.get("teacher_api_key"),
        hf_token=extra.get("hf_token"),
        endpoint_token=pulumi.Output.secret(token) if token is not None else None,
        runs_dir=Path("/nonexistent"),
        python="python3",
    )


def run_program(plan: Plan, request: DistillationRequest, stack: str, preview: bool = False,
                token: str | None = ENDPOINT_TOKEN, secrets: dict[str, str] | None = None) -> Stack:
    """Run the program's wiring (``infra.program.build``) for ``plan`` under mocks: the
    backends are the ones the program picks from the plan's clouds."""
    from infra.program import build

    mocks = CloudMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="stratos", stack=stack, preview=preview, monitor=monitor)
    result = Stack(resources={}, calls=mocks.calls)

    @pulumi.runtime.test
    def program():
        d = build(make_settings(request, stack, token, secrets), plan)
        endpoint, job = d.endpoint, d.job
        res = {**endpoint.outputs.resources, **{f"cluster.{k}": v for k, v in d.cluster.outputs.resources.items()}}
        secret_outputs: dict[str, Any] = {"endpoint.token": endpoint.token}
        for key, attrs in {
            "token": ("value", "secret_data"), "tokenVersion": ("secret_data",),
            "storeCredentials": ("value",), "storeCredentialsVersion": ("secret_data",),
        }.items():
            for attr in attrs:
                if hasattr(res.get(key), attr):
                    secret_outputs[f"{'tokenResource' if key == 'token' else key}.{attr}"] = getattr(res[key], attr)
        for key, r in res.items():
            if key.startswith("cluster.secret"):
                for attr in ("value", "secret_data"):
                    if hasattr(r, attr):
                        secret_outputs[f"{key}.{attr}"] = getattr(r, attr)
        watched = {"storeUri": d.store.uri, "artifact": job.artifact_uri, "url": endpoint.url,
                   "manifestHash": job.manifest_hash, "metrics": job.metrics}

        async def collect():
            for k, v in secret_outputs.items():
                result.secret[k] = await pulumi.Output.from_input(v).is_secret()
            for k, v in watched.items():
                result.values[k] = await pulumi.Output.from_input(v).future()
            return True

        return pulumi.Output.from_input(asyncio.ensure_future(collect()))

    program()
    result.resources = {urn: dict(reg.state) for urn, reg in monitor.get_registered_resources().items()}
    result.deps, result.providers, result.depends_on = monitor.deps, monitor.providers, monitor.depends_on
    return result
