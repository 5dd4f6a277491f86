"""GCP backend: the plan's GPU servers as Compute Engine VMs around a private GCS bucket.

What ``pulumi up`` creates (the project comes from ``gcp:project``; every resource
names its own region or zone from the plan):

* ``artifact_store``: a GCS bucket in the training region with uniform bucket-level
  access, public access prevention enforced and versioning (GCS encrypts every object
  at rest), holding ``runs/<stack>/plan.json`` and the Stratos source archive.
* ``training_cluster``: a service account granted object access on that bucket only,
  an SSH firewall rule only when ``network.ssh_cidrs`` is set, and the training VM:
  the planned machine type and zone with ``guest_accelerators`` = the planned GPU and
  count, ``on_host_maintenance: TERMINATE`` (GPU VMs cannot live-migrate), spot per
  plan, a Deep Learning VM image, and the training bootstrap as its startup script.
* ``distillation_job``: the job is the startup script; outputs point at its results.
* ``serving_endpoint``: the token in Secret Manager (written as a Pulumi secret), a
  service account that can read the bucket and that secret only, a firewall rule
  opening only the serving port to ``network.allowed_cidrs``, and the serving VM.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.backends.base import ClusterOutputs, EndpointOutputs, JobOutputs, StoreOutputs
from infra.backends.cloud import ACCELERATOR_TYPES, check_cloud, check_ssh_cidrs, run_prefix
from infra.bootstrap.render import (
    SOURCE_ARCHIVE,
    NodeScript,
    render_serving,
    render_training,
    source_archive,
)
from infra.bootstrap.sizing import serving_disk_gb, training_disk_gb
from infra.config import Settings
from infra.policies.tags import cost_tags, label_value
from stratos.catalog.offering import Offering
from stratos.exceptions import ConfigError
from stratos.planner.plan import Plan

#: Google's Deep Learning VM images: NVIDIA driver (installed at first boot), CUDA, gcloud.
IMAGE_PROJECT = "deeplearning-platform-release"
IMAGE_FAMILY = "common-cu128-ubuntu-2204-nvidia-570"
NETWORK = "default"


def accelerator_type(offering: Offering) -> str:
    """The Compute Engine accelerator type for the plan's GPU, or a clear error."""
    if not offering.accelerator or offering.accelerator_count < 1:
        raise ConfigError(f"{offering.label} has no GPU; the GCP backend trains and serves on GPU VMs only")
    if offering.accelerator not in ACCELERATOR_TYPES:
        raise ConfigError(
            f"GPU {offering.accelerator!r} has no Compute Engine accelerator type here; "
            f"known: {', '.join(sorted(ACCELERATOR_TYPES))}. Restrict stratos:gpus to one of them."
        )
    return ACCELERATOR_TYPES[offering.accelerator]


def account_id(stack: str, role: str) -> str:
    """A service-account id (6-30 chars, lowercase letter first) for a stack and role."""
    base = label_value(f"stratos-{stack}").replace("_", "-").strip("-")[: 29 - len(role)]
    return f"{base.rstrip('-')}-{role}"


class GcpBackend:
    """Compute Engine + GCS + IAM + Secret Manager, through the default provider."""

    name = "gcp"

    def _firewall(self, parent, name: str, port: int, cidrs: list[str], tag: str, what: str) -> gcp.compute.Firewall:
        return gcp.compute.Firewall(
            name,
            network=NETWORK,
            direction="INGRESS",
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(port)])],
            source_ranges=cidrs,
            target_tags=[tag],
            description=f"Stratos {what}",
            opts=pulumi.ResourceOptions(parent=parent),
        )

    def _ssh(self, parent, name: str, settings: Settings, tag: str) -> gcp.compute.Firewall | None:
        ssh = check_ssh_cidrs(settings.ssh_cidrs)
        return self._firewall(parent, f"{name}-ssh", 22, ssh, tag, "SSH") if ssh else None

    def _instance(
        self,
        parent,
        name: str,
        offering: Offering,
        account: gcp.serviceaccount.Account,
        disk_gb: int,
        script: pulumi.Input[str],
        labels: dict[str, str],
        tag: str,
        depends_on: list[pulumi.Resource],
    ) -> gcp.compute.Instance:
        image = gcp.compute.get_image_output(family=IMAGE_FAMILY, project=IMAGE_PROJECT)
        if offering.spot:
            scheduling = gcp.compute.InstanceSchedulingArgs(
                provisioning_model="SPOT",
                preemptible=True,
                automatic_restart=False,
                on_host_maintenance="TERMINATE",
                instance_termination_action="STOP",
            )
        else:
            scheduling = gcp.compute.InstanceSchedulingArgs(
                provisioning_model="STANDARD", automatic_restart=True, on_host_maintenance="TERMINATE"
            )
        if not offering.zone:
            raise ConfigError(f"the plan gives no zone for {offering.label}; the planner must pick one")
        return gcp.compute.Instance(
            f"{name}-instance",
            machine_type=offering.instance_type,
            zone=offering.zone,
            guest_accelerators=[
                gcp.compute.InstanceGuestAcceleratorArgs(type=accelerator_type(offering), count=offering.accelerator_count)
            ],
            scheduling=scheduling,
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                auto_delete=True,
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image=image.self_link, size=disk_gb, type="pd-balanced"
                ),
            ),
            network_interfaces=[
                # An ephemeral external address: nodes download packages and models.
                gcp.compute.InstanceNetworkInterfaceArgs(
                    network=NETWORK, access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs()]
                )
            ],
            service_account=gcp.compute.InstanceServiceAccountArgs(email=account.email, scopes=["cloud-platform"]),
            # A changed script (a new plan) replaces the VM: a new plan is a new job.
            metadata_startup_script=script,
            metadata={"install-nvidia-driver": "True", "block-project-ssh-keys": "true"},
            shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(
                enable_integrity_monitoring=True, enable_vtpm=True
            ),
            allow_stopping_for_update=True,
            labels=labels,
            tags=[tag],
            # The node reads the bucket (and the token) at boot: grant access first.
            opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
        )

    # -- the four concepts ---------------------------------------------------------

    def artifact_store(self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings) -> StoreOutputs:
        """A private, versioned bucket in the training region; the run lives under ``runs/<stack>``."""
        check_cloud(plan, self.name)
        check_ssh_cidrs(settings.ssh_cidrs)
        accelerator_type(plan.train)
        accelerator_type(plan.serve)
        opts = pulumi.ResourceOptions(parent=parent)
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            location=(plan.train.region or "").upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            # `pulumi destroy` is the teardown: it removes the artifacts with the bucket.
            force_destroy=True,
            labels={"stratos-stack": label_value(settings.stack)},
            opts=opts,
        )
        prefix = run_prefix(settings)
        plan_object = gcp.storage.BucketObject(
            f"{name}-plan",
            bucket=bucket.name,
            name=f"{prefix}/plan.json",
            content=plan.model_dump_json() + "\n",
            content_type="application/json",
            opts=opts,
        )
        source = gcp.storage.BucketObject(
            f"{name}-source",
            bucket=bucket.name,
            name=f"{prefix}/{SOURCE_ARCHIVE}",
            source=pulumi.AssetArchive(
                {k: (pulumi.FileArchive(str(p)) if p.is_dir() else pulumi.FileAsset(str(p))) for k, p in source_archive().items()}
            ),
            opts=opts,
        )
        return StoreOutputs(
            uri=pulumi.Output.concat("gs://", bucket.name, "/", prefix),
            resources={"bucket": bucket, "plan": plan_object, "source": source},
        )

    def training_cluster(
        self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings, store: StoreOutputs
    ) -> ClusterOutputs:
        """The training VM; its startup script is the job."""
        offering = plan.train
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=account_id(settings.stack, "train"),
            display_name=f"Stratos training node ({settings.stack})",
            opts=pulumi.ResourceOptions(parent=parent),
        )
        access = gcp.storage.BucketIAMMember(
            f"{name}-bucket-access",
            bucket=store.resources["bucket"].name,
            role="roles/storage.objectUser",
            member=account.email.apply(lambda e: f"serviceAccount:{e}"),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        tag = f"{label_value(settings.stack)}-train"
        ssh = self._ssh(parent, name, settings, tag)
        script = pulumi.Output.from_input(store.uri).apply(
            lambda uri: render_training(plan, NodeScript(cloud="gcp", region=offering.region or "", store_uri=uri))
        )
        labels = cost_tags("train", settings.stack, plan.cost.total_usd, settings.request.constraints.budget_usd)
        instance = self._instance(
            parent, name, offering, account, training_disk_gb(plan), script, labels, tag, [access]
        )
        resources = {"instance": instance, "serviceAccount": account, "bucketAccess": access}
        if ssh is not None:
            resources["sshFirewall"] = ssh
        return ClusterOutputs(
            host=instance.network_interfaces.apply(lambda nics: nics[0].network_ip or ""),
            instance_type=instance.machine_type,
            resources=resources,
        )

    def distillation_job(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
        cluster: ClusterOutputs,
    ) -> JobOutputs:
        """The job runs from the training VM's startup script; point at its results."""
        uri = pulumi.Output.from_input(store.uri)
        return JobOutputs(
            artifact_uri=uri.apply(lambda u: f"{u}/artifact"),
            manifest_hash=uri.apply(lambda u: f"see {u}/_COMPLETE.json"),
            metrics={
                "status": "launched",
                "completionMarker": uri.apply(lambda u: f"{u}/_COMPLETE.json"),
                "failureMarker": uri.apply(lambda u: f"{u}/_FAILED.txt"),
                "instance": cluster.resources["instance"].self_link,
            },
        )

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
        """The serving VM: waits for the artifact, then vLLM behind the token from Secret Manager."""
        offering = plan.serve
        opts = pulumi.ResourceOptions(parent=parent)
        secret = gcp.secretmanager.Secret(
            f"{name}-token",
            secret_id=f"stratos-{label_value(settings.stack)}-endpoint-token",
            replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
            labels={"stratos-stack": label_value(settings.stack)},
            opts=opts,
        )
        version = gcp.secretmanager.SecretVersion(
            f"{name}-token-version", secret=secret.id, secret_data=pulumi.Output.secret(token), opts=opts
        )
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=account_id(settings.stack, "serve"),
            display_name=f"Stratos serving node ({settings.stack})",
            opts=opts,
        )
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        read = gcp.storage.BucketIAMMember(
            f"{name}-bucket-read",
            bucket=store.resources["bucket"].name,
            role="roles/storage.objectViewer",
            member=member,
            opts=opts,
        )
        secret_access = gcp.secretmanager.SecretIamMember(
            f"{name}-token-access",
            secret_id=secret.id,
            role="roles/secretmanager.secretAccessor",
            member=member,
            opts=opts,
        )
        tag = f"{label_value(settings.stack)}-serve"
        resources: dict[str, pulumi.Resource] = {
            "token": secret,
            "tokenVersion": version,
            "serviceAccount": account,
            "bucketRead": read,
            "tokenAccess": secret_access,
        }
        port = settings.serving_port
        if settings.allowed_cidrs:
            resources["firewall"] = self._firewall(parent, f"{name}-fw", port, settings.allowed_cidrs, tag, "endpoint")
        ssh = self._ssh(parent, name, settings, tag)
        if ssh is not None:
            resources["sshFirewall"] = ssh
        model_name = f"stratos-{plan.task}"
        script = pulumi.Output.all(store.uri, secret.secret_id).apply(
            lambda a: render_serving(
                plan,
                NodeScript(
                    cloud="gcp", region=offering.region or "", store_uri=a[0], port=port,
                    token_ref=a[1], model_name=model_name,
                ),
            )
        )
        labels = cost_tags("serve", settings.stack, plan.cost.total_usd, settings.request.constraints.budget_usd)
        instance = self._instance(
            parent, name, offering, account, serving_disk_gb(plan), script, labels, tag,
            [read, secret_access, version],
        )
        resources["instance"] = instance
        ip = instance.network_interfaces.apply(lambda nics: nics[0].access_configs[0].nat_ip or "")
        return EndpointOutputs(
            url=pulumi.Output.concat("http://", ip, f":{port}/v1"),
            model_name=model_name,
            resources=resources,
        )
