"""AWS backend: the plan's GPU servers as EC2 instances around a private S3 bucket.

What ``pulumi up`` creates (all with an explicit provider in the planned region):

* ``artifact_store``: an S3 bucket with public access blocked, ACLs disabled,
  versioning and SSE-KMS encryption, holding ``runs/<stack>/plan.json`` and the
  Stratos source archive the nodes install from.
* ``training_cluster``: the stack's secrets the job needs (``teacherApiKey``,
  ``hfToken``) as SSM SecureStrings, an IAM role + instance profile allowed only the
  run prefix of that bucket and those parameters, a security group with no ingress
  (SSH only from ``network.ssh_cidrs``; all TCP between the nodes themselves when
  there are several), and ``plan.train_nodes`` training instances (a cluster
  placement group when more than one): exactly the planned type and availability
  zone, spot when the plan says so, a Deep Learning AMI found by filter, IMDSv2
  required, an encrypted root volume sized from the models and data, and the
  training bootstrap as user-data (``infra/bootstrap``) - the job starts at boot.
* ``distillation_job``: a ``CloudDistillationJob`` whose create waits for the node's
  completion marker in the bucket and exports the node's metrics.
* ``serving_endpoint``: the token and the TLS key in SSM Parameter Store
  (SecureStrings, written as Pulumi secrets), an Elastic IP the endpoint's certificate
  names, a role allowed to read the bucket and those parameters only, a security group
  opening only the serving port to ``network.allowed_cidrs``, and the serving instance
  (created once the job has finished) whose user-data runs vLLM on 127.0.0.1 behind the
  TLS gateway.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.backends.base import ClusterOutputs, EndpointOutputs, JobOutputs, StoreOutputs
from infra.backends.cloud import (
    StoreReader,
    check_cloud,
    check_nodes,
    check_ssh_cidrs,
    cloud_job,
    env_lines,
    job_prefix,
    node_names,
    run_prefix,
    serving_store,
    source_asset,
    training_script,
    training_secrets,
)
from infra.backends.tls import EndpointTls, endpoint_tls
from infra.bootstrap.render import (
    SOURCE_ARCHIVE,
    NodeScript,
    render_serving,
)
from infra.bootstrap.sizing import serving_disk_gb, training_disk_gb
from infra.config import Settings
from infra.policies.tags import ROLE, STACK, ZONE_ID, cost_tags
from stratos.catalog.offering import Offering
from stratos.exceptions import ConfigError
from stratos.planner.plan import Plan

#: AWS's own Deep Learning AMIs: NVIDIA driver, CUDA, PyTorch, the AWS CLI.
DLAMI_OWNER = "amazon"
DLAMI_NAME = {
    "x86_64": "Deep Learning OSS Nvidia Driver AMI GPU PyTorch * (Ubuntu 22.04) *",
    "arm64": "Deep Learning ARM64 *OSS Nvidia Driver*PyTorch* (Ubuntu 22.04) *",
}
#: Graviton GPU families (g5g) need the arm64 AMI.
ARM_FAMILIES = ("g5g",)
ASSUME_EC2 = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def bucket_statements(bucket_arn: str, prefix: str, write: bool) -> list[dict]:
    """IAM statements allowing one bucket prefix only: list, read, and (for training) write
    and delete (a new attempt removes a replaced node's failure marker)."""
    actions = ["s3:GetObject"] + (["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"] if write else [])
    return [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
        },
        {"Effect": "Allow", "Action": actions, "Resource": f"{bucket_arn}/{prefix}/*"},
    ]


def bucket_policy(bucket_arn: str, prefix: str, write: bool) -> str:
    """An IAM policy document of :func:`bucket_statements`."""
    return json.dumps({"Version": "2012-10-17", "Statement": bucket_statements(bucket_arn, prefix, write)})


def read_parameters(arns: list[str]) -> list[dict]:
    """Statements that let a node read exactly these SSM parameters."""
    return [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": arn} for arn in sorted(arns)]


def policy_of(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _ami_architecture(instance_type: str) -> str:
    return "arm64" if instance_type.split(".")[0] in ARM_FAMILIES else "x86_64"


class AwsBackend:
    """EC2 + S3 + IAM + SSM. One provider per region, created on first use."""

    name = "aws"

    def __init__(self) -> None:
        self._providers: dict[str, aws.Provider] = {}

    # -- helpers -----------------------------------------------------------------

    def _provider(self, parent: pulumi.Resource, name: str, region: str, settings: Settings) -> aws.Provider:
        """The region's provider; its default tags name the stack on every resource (cost reports)."""
        if region not in self._providers:
            self._providers[region] = aws.Provider(
                f"{name}-aws-{region}",
                region=region,
                default_tags=aws.ProviderDefaultTagsArgs(tags={STACK: settings.stack, "managed-by": "stratos"}),
                opts=pulumi.ResourceOptions(parent=parent),
            )
        return self._providers[region]

    def _opts(self, parent: pulumi.Resource, provider: aws.Provider, **kw) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=provider, **kw)

    def _zone(self, offering: Offering, provider: aws.Provider) -> tuple[pulumi.Input[str], dict[str, pulumi.Input[str]]]:
        """The AZ name (``us-east-1b``) and the tag the policy pack checks it by: the catalog
        names zones by ID (``use1-az2``), which maps to different names in different
        accounts, so it is looked up, and the instance is tagged with the ID it got."""
        if not offering.zone:
            raise ConfigError(f"the plan gives no availability zone for {offering.label}; the planner must pick one")
        if offering.zone.startswith(offering.region or "\0"):
            return offering.zone, {}
        az = aws.get_availability_zone_output(zone_id=offering.zone, opts=pulumi.InvokeOutputOptions(provider=provider))
        return az.name, {ZONE_ID: az.zone_id}

    def _ami(self, offering: Offering, provider: aws.Provider) -> pulumi.Output[str]:
        arch = _ami_architecture(offering.instance_type)
        ami = aws.ec2.get_ami_output(
            most_recent=True,
            owners=[DLAMI_OWNER],
            filters=[
                aws.ec2.GetAmiFilterArgs(name="name", values=[DLAMI_NAME[arch]]),
                aws.ec2.GetAmiFilterArgs(name="architecture", values=[arch]),
                aws.ec2.GetAmiFilterArgs(name="state", values=["available"]),
            ],
            opts=pulumi.InvokeOutputOptions(provider=provider),
        )
        return ami.id

    def _role(self, parent, name: str, provider, policy: pulumi.Input[str]) -> aws.iam.InstanceProfile:
        role = aws.iam.Role(f"{name}-role", assume_role_policy=ASSUME_EC2, opts=self._opts(parent, provider))
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy, opts=self._opts(parent, provider))
        return aws.iam.InstanceProfile(f"{name}-profile", role=role.name, opts=self._opts(parent, provider))

    def _security_group(
        self, parent, name: str, provider, port: int | None, cidrs: list[str], ssh: list[str], what: str,
        between_members: bool = False,
    ) -> aws.ec2.SecurityGroup:
        ingress = []
        if between_members:
            # torchrun's rendezvous and NCCL (ephemeral ports) between the training nodes only.
            ingress.append(
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=0, to_port=65535, self=True, description="Stratos training nodes"
                )
            )
        if port is not None and cidrs:
            ingress.append(
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=port, to_port=port, cidr_blocks=cidrs, description="Stratos endpoint"
                )
            )
        if ssh:
            ingress.append(
                aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=22, to_port=22, cidr_blocks=ssh, description="SSH")
            )
        return aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"Stratos {what}: only the listed ingress",
            ingress=ingress,
            # Nodes download packages and models and write to S3.
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])],
            opts=self._opts(parent, provider),
        )

    def _instance(
        self,
        parent,
        name: str,
        provider,
        offering: Offering,
        profile: aws.iam.InstanceProfile,
        sg: aws.ec2.SecurityGroup,
        disk_gb: int,
        user_data: pulumi.Input[str],
        tags: dict[str, str],
        depends_on: list[pulumi.Resource] | None = None,
        placement_group: pulumi.Input[str] | None = None,
    ) -> aws.ec2.Instance:
        market = None
        if offering.spot:
            market = aws.ec2.InstanceInstanceMarketOptionsArgs(
                market_type="spot",
                # Reclaimed capacity stops the node (disk kept) and AWS starts it again when
                # capacity returns; the bootstrap reruns at boot and resumes the job.
                spot_options=aws.ec2.InstanceInstanceMarketOptionsSpotOptionsArgs(
                    spot_instance_type="persistent", instance_interruption_behavior="stop"
                ),
            )
        zone, zone_tag = self._zone(offering, provider)
        return aws.ec2.Instance(
            name,
            instance_type=offering.instance_type,
            availability_zone=zone,
            ami=self._ami(offering, provider),
            iam_instance_profile=profile.name,
            vpc_security_group_ids=[sg.id],
            associate_public_ip_address=True,
            instance_market_options=market,
            placement_group=placement_group,
            # A finished job powers the node off; stopped, it costs only its disk until destroy.
            instance_initiated_shutdown_behavior="stop",
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_size=disk_gb, volume_type="gp3", encrypted=True, delete_on_termination=True
            ),
            user_data=user_data,
            # A new plan is a new job: replace the node rather than edit a running one.
            user_data_replace_on_change=True,
            tags={"Name": f"stratos-{tags[STACK]}-{tags[ROLE]}", **tags, **zone_tag},
            opts=self._opts(parent, provider, depends_on=depends_on or []),
        )

    def _parameter(self, parent, provider, settings: Settings, name: str, what: str, value, description: str):
        """A SecureString under ``/stratos/<stack>/`` written from a Pulumi secret."""
        return aws.ssm.Parameter(
            name,
            name=f"/stratos/{settings.stack}/{what}",
            type="SecureString",
            value=pulumi.Output.secret(value),
            description=description,
            opts=self._opts(parent, provider),
        )

    # -- the four concepts ---------------------------------------------------------

    def _private_bucket(self, parent, name: str, provider) -> tuple[aws.s3.Bucket, dict[str, pulumi.Resource]]:
        """A bucket with public access blocked, ACLs disabled, versioning and SSE-KMS."""
        opts = self._opts(parent, provider)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix="stratos-artifacts-",
            # `pulumi destroy` is the teardown: it removes the artifacts with the bucket.
            force_destroy=True,
            opts=opts,
        )
        pab = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=opts,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=opts,
        )
        return bucket, {
            "publicAccessBlock": pab, "ownership": ownership, "versioning": versioning, "encryption": encryption,
        }

    def artifact_store(self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings) -> StoreOutputs:
        """A private, versioned, encrypted bucket; the run's files live under ``runs/<stack>/job-<id>``."""
        check_cloud(plan, self.name, "train")
        check_ssh_cidrs(settings.ssh_cidrs)
        check_nodes(plan)
        provider = self._provider(parent, name, plan.train.region or "", settings)
        bucket, guards = self._private_bucket(parent, name, provider)
        prefix = job_prefix(plan, settings)
        after = self._opts(parent, provider, depends_on=[guards["publicAccessBlock"], guards["encryption"], guards["ownership"]])
        plan_object = aws.s3.BucketObjectv2(
            f"{name}-plan",
            bucket=bucket.id,
            key=f"{prefix}/plan.json",
            content=plan.model_dump_json() + "\n",
            content_type="application/json",
            opts=after,
        )
        source = aws.s3.BucketObjectv2(
            f"{name}-source",
            bucket=bucket.id,
            key=f"{prefix}/{SOURCE_ARCHIVE}",
            source=source_asset(plan),
            opts=after,
        )
        return StoreOutputs(
            uri=pulumi.Output.concat("s3://", bucket.bucket, "/", prefix),
            resources={"bucket": bucket, **guards, "plan": plan_object, "source": source},
        )

    def training_cluster(
        self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings, store: StoreOutputs
    ) -> ClusterOutputs:
        """The training node(s); booting node 0 starts the job (its user-data)."""
        offering = plan.train
        provider = self._provider(parent, name, offering.region or "", settings)
        secrets = {
            s.env: self._parameter(parent, provider, settings, f"{name}-secret-{s.what}", s.what, s.value,
                                   f"{s.env} for the Stratos training job (read by the training node)")
            for s in training_secrets(settings)
        }
        bucket = store.resources["bucket"]
        policy = pulumi.Output.all(bucket.arn, *[p.arn for p in secrets.values()]).apply(
            lambda a: policy_of(bucket_statements(a[0], run_prefix(settings), write=True) + read_parameters(a[1:]))
        )
        profile = self._role(parent, name, provider, policy)
        several = plan.train_nodes > 1
        sg = self._security_group(
            parent, name, provider, None, [], check_ssh_cidrs(settings.ssh_cidrs), "training nodes", several
        )
        group = aws.ec2.PlacementGroup(
            f"{name}-placement", strategy="cluster", opts=self._opts(parent, provider)
        ) if several else None
        refs = [(env, p.name) for env, p in secrets.items()]
        budget = settings.request.constraints.budget_usd
        instances: list[aws.ec2.Instance] = []
        for rank, node_name in enumerate(node_names(name, plan)):
            head = instances[0].private_ip if rank else ""
            user_data = training_script(plan, settings, self.name, store.uri, rank, head, refs)
            instances.append(self._instance(
                parent, node_name, provider, offering, profile, sg, training_disk_gb(plan), user_data,
                cost_tags("train", settings.stack, plan.cost.total_usd, budget),
                depends_on=list(secrets.values()), placement_group=group.name if group else None,
            ))
        resources: dict[str, pulumi.Resource] = {
            "instance": instances[0], "securityGroup": sg, "instanceProfile": profile,
            **{f"instance{r}": i for r, i in enumerate(instances[1:], 1)},
            **{f"secret.{env}": p for env, p in secrets.items()},
        }
        if group is not None:
            resources["placementGroup"] = group
        return ClusterOutputs(host=instances[0].private_ip, instance_type=instances[0].instance_type, resources=resources)

    def distillation_job(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
        cluster: ClusterOutputs,
    ) -> JobOutputs:
        """Waits for node 0's completion marker in the bucket (the node id is its instance id)."""
        head = cluster.resources["instance"]
        return cloud_job(parent, name, plan, settings, store, head, head.id, plan.train.region or "")

    def store_reader(
        self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings, store: StoreOutputs
    ) -> StoreReader:
        """Read-only keys to this bucket's run prefix, for a serving node on another cloud:
        an IAM user allowed ``GetObject``/``ListBucket`` there and nothing else."""
        region = plan.train.region or ""
        provider = self._provider(parent, name, region, settings)
        opts = self._opts(parent, provider)
        bucket = store.resources["bucket"]
        user = aws.iam.User(f"{name}-store-reader", opts=opts)
        policy = aws.iam.UserPolicy(
            f"{name}-store-reader-policy",
            user=user.name,
            policy=bucket.arn.apply(lambda arn: bucket_policy(arn, run_prefix(settings), write=False)),
            opts=opts,
        )
        key = aws.iam.AccessKey(
            f"{name}-store-reader-key",
            user=user.name,
            opts=self._opts(parent, provider, additional_secret_outputs=["secret"]),
        )
        env = pulumi.Output.all(key.id, key.secret).apply(
            lambda k: env_lines({"AWS_ACCESS_KEY_ID": k[0], "AWS_SECRET_ACCESS_KEY": k[1], "AWS_DEFAULT_REGION": region})
        )
        return StoreReader(
            env=pulumi.Output.secret(env),
            uri=pulumi.Output.from_input(store.uri),
            resources={"storeReader": user, "storeReaderPolicy": policy, "storeReaderKey": key},
        )

    def _store_for_serving(self, parent, name: str, plan: Plan, settings: Settings, store: StoreOutputs, provider):
        """How the serving node reads the artifact: the store's URI and region for its CLI, the
        secret with another cloud's read-only keys (or None), the IAM statements to grant, and
        the resources made for it."""

        def keep(res_name: str, what: str, value: pulumi.Output[str]):
            p = self._parameter(parent, provider, settings, res_name, what, value,
                                f"Read-only keys to the {plan.train.cloud} artifact store")
            return p.name, {"storeCredentials": p}

        foreign = serving_store(self.name, parent, name, plan, settings, store, keep)
        if foreign is None:
            bucket = store.resources["bucket"]
            reads = [bucket.arn.apply(lambda arn: bucket_statements(arn, run_prefix(settings), write=False))]
            return pulumi.Output.from_input(store.uri), plan.train.region or "", None, reads, {}
        reads = [foreign.resources["storeCredentials"].arn.apply(lambda arn: read_parameters([arn]))]
        return foreign.uri, foreign.region, foreign.env_ref, reads, foreign.resources

    def serving_endpoint(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
        job: JobOutputs,
        token: pulumi.Input[str],
    ) -> EndpointOutputs:
        """The serving node, created once the job has finished: vLLM on the artifact behind the
        token from SSM. When training ran on another cloud, that cloud's backend grants read-only
        keys to its store, kept here as a second SecureString the node reads at boot."""
        check_cloud(plan, self.name, "serve")
        offering = plan.serve
        provider = self._provider(parent, name, offering.region or "", settings)
        port = settings.serving_port
        param = self._parameter(parent, provider, settings, f"{name}-token", "endpoint-token", token,
                                "Bearer token of the Stratos endpoint (read by the serving node)")
        address, tls, tls_key = self._endpoint_tls(parent, name, provider, settings)
        resources: dict[str, pulumi.Resource] = {"token": param, "address": address, "tlsKey": tls_key, **tls.resources}
        store_uri, store_region, env_ref, reads, extra = self._store_for_serving(
            parent, name, plan, settings, store, provider
        )
        resources.update(extra)
        policy = pulumi.Output.all(param.arn, tls_key.arn, *reads).apply(
            lambda a: policy_of(read_parameters(a[:2]) + [st for sts in a[2:] for st in sts])
        )
        profile = self._role(parent, name, provider, policy)
        sg = self._security_group(
            parent, name, provider, port, settings.allowed_cidrs, check_ssh_cidrs(settings.ssh_cidrs), "endpoint"
        )
        model_name = plan.served_model_name
        user_data = pulumi.Output.all(store_uri, param.name, env_ref, tls.cert_pem, tls_key.name).apply(
            lambda a: render_serving(plan, NodeScript(
                cloud="aws", region=store_region, secret_region=offering.region or "", store_uri=a[0], port=port,
                token_ref=a[1], model_name=model_name, store_env_ref=a[2] or "", tls_cert=a[3], tls_key_ref=a[4],
            ))
        )
        budget = settings.request.constraints.budget_usd
        instance = self._instance(
            parent, f"{name}-instance", provider, offering, profile, sg, serving_disk_gb(plan), user_data,
            cost_tags("serve", settings.stack, plan.cost.total_usd, budget),
            depends_on=list(job.resources.values()),
        )
        resources["addressAssociation"] = aws.ec2.EipAssociation(
            f"{name}-ip-association", instance_id=instance.id, allocation_id=address.allocation_id,
            opts=self._opts(parent, provider),
        )
        return EndpointOutputs(
            url=pulumi.Output.concat("https://", address.public_ip, f":{port}/v1"),
            model_name=model_name,
            resources={**resources, "instance": instance, "securityGroup": sg, "instanceProfile": profile},
            certificate=tls.cert_pem,
            certificate_sha256=tls.sha256,
        )

    def _endpoint_tls(
        self, parent: pulumi.Resource, name: str, provider: aws.Provider, settings: Settings
    ) -> tuple[aws.ec2.Eip, EndpointTls, aws.ssm.Parameter]:
        """An Elastic IP for the endpoint (a stable URL the certificate names), the certificate,
        and its key as a SecureString the node reads at boot."""
        address = aws.ec2.Eip(f"{name}-ip", domain="vpc", opts=self._opts(parent, provider))
        tls = endpoint_tls(parent, name, settings, address.public_ip)
        key = self._parameter(parent, provider, settings, f"{name}-tls-key", "endpoint-tls-key", tls.key_pem,
                              "Private key of the Stratos endpoint's TLS certificate (read by the serving node)")
        return address, tls, key
