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
from infra.backends.cloud import (
    ACCELERATOR_TYPES,
    StoreReader,
    check_cloud,
    check_ssh_cidrs,
    env_lines,
    launched_job,
    run_prefix,
    source_asset,
)
from infra.backends.tls import endpoint_tls
from infra.bootstrap.render import (
    SOURCE_ARCHIVE,
    NodeScript,
    render_serving,
    render_training,
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
#: Subnet of the stack's own network in the n-th region it uses (10.0.0.0/20, 10.1.0.0/20, ...).
SUBNET_RANGE = "10.{}.0.0/20"
#: GCS's S3-compatible (XML) API, read with HMAC keys by nodes on other clouds.
GCS_S3_ENDPOINT = "https://storage.googleapis.com"


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

    def __init__(self) -> None:
        self._net: gcp.compute.Network | None = None
        self._subnets: dict[str, gcp.compute.Subnetwork] = {}

    def _network(self, parent, name: str, region: str) -> tuple[gcp.compute.Network, gcp.compute.Subnetwork]:
        """The stack's own VPC (not ``default``, whose project-wide rules often admit SSH from
        anywhere) and its subnet in ``region``: Private Google Access reaches GCS and Cloud NAT
        the package indexes and model hubs, so nodes need no external address."""
        opts = pulumi.ResourceOptions(parent=parent)
        if self._net is None:
            self._net = gcp.compute.Network(
                f"{name}-network", auto_create_subnetworks=False, description="Stratos nodes only", opts=opts
            )
        if region not in self._subnets:
            self._subnets[region] = gcp.compute.Subnetwork(
                f"{name}-subnet-{region}", network=self._net.id, region=region,
                ip_cidr_range=SUBNET_RANGE.format(len(self._subnets)), private_ip_google_access=True, opts=opts,
            )
            router = gcp.compute.Router(f"{name}-router-{region}", network=self._net.id, region=region, opts=opts)
            gcp.compute.RouterNat(
                f"{name}-nat-{region}", router=router.name, region=region, nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES", opts=opts,
            )
        return self._net, self._subnets[region]

    def _firewall(self, parent, name: str, port: int, cidrs: list[str], tag: str, what: str) -> gcp.compute.Firewall:
        return gcp.compute.Firewall(
            name,
            network=self._net.id,
            direction="INGRESS",
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(port)])],
            source_ranges=cidrs,
            target_tags=[tag],
            description=f"Stratos {what}",
            opts=pulumi.ResourceOptions(parent=parent),
        )

    def _secret(
        self, parent, name: str, settings: Settings, what: str, value: pulumi.Input[str], member: pulumi.Input[str]
    ) -> tuple[gcp.secretmanager.Secret, gcp.secretmanager.SecretVersion, gcp.secretmanager.SecretIamMember]:
        """A Secret Manager secret holding ``value`` (a Pulumi secret), readable by ``member`` only."""
        opts = pulumi.ResourceOptions(parent=parent)
        secret = gcp.secretmanager.Secret(
            name,
            secret_id=f"stratos-{label_value(settings.stack)}-{what}",
            replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
            labels={"stratos-stack": label_value(settings.stack)},
            opts=opts,
        )
        version = gcp.secretmanager.SecretVersion(
            f"{name}-version", secret=secret.id, secret_data=pulumi.Output.secret(value), opts=opts
        )
        access = gcp.secretmanager.SecretIamMember(
            f"{name}-access", secret_id=secret.id, role="roles/secretmanager.secretAccessor", member=member, opts=opts
        )
        return secret, version, access

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
        address: gcp.compute.Address | None = None,
        external: bool = False,
    ) -> gcp.compute.Instance:
        """A GPU VM on the stack's network; an external address only when ``address`` is an
        EXTERNAL one (a public endpoint), its internal IP fixed when it is INTERNAL."""
        net, subnet = self._network(parent, name, offering.region or "")
        nic = gcp.compute.InstanceNetworkInterfaceArgs(
            network=net.id,
            subnetwork=subnet.id,
            network_ip=address.address if address is not None and not external else None,
            access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(nat_ip=address.address)] if external else [],
        )
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
            network_interfaces=[nic],
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
        check_cloud(plan, self.name, "train")
        check_ssh_cidrs(settings.ssh_cidrs)
        accelerator_type(plan.train)
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
            source=source_asset(),
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
        self._network(parent, name, offering.region or "")
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
        return launched_job(store.uri, cluster.resources["instance"].self_link)

    def store_reader(
        self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings, store: StoreOutputs
    ) -> StoreReader:
        """Read-only HMAC keys to this bucket, for a serving node on another cloud: a service
        account with object read on the bucket only, reached through GCS's S3-compatible API."""
        opts = pulumi.ResourceOptions(parent=parent)
        account = gcp.serviceaccount.Account(
            f"{name}-store-reader",
            account_id=account_id(settings.stack, "reader"),
            display_name=f"Stratos store reader ({settings.stack})",
            opts=opts,
        )
        grant = gcp.storage.BucketIAMMember(
            f"{name}-store-reader-access",
            bucket=store.resources["bucket"].name,
            role="roles/storage.objectViewer",
            member=account.email.apply(lambda e: f"serviceAccount:{e}"),
            opts=opts,
        )
        key = gcp.storage.HmacKey(
            f"{name}-store-reader-key", service_account_email=account.email, opts=pulumi.ResourceOptions(parent=parent, depends_on=[grant], additional_secret_outputs=["secret"])
        )
        env = pulumi.Output.all(key.access_id, key.secret).apply(
            lambda k: env_lines(
                {"AWS_ACCESS_KEY_ID": k[0], "AWS_SECRET_ACCESS_KEY": k[1], "STRATOS_S3_ENDPOINT": GCS_S3_ENDPOINT}
            )
        )
        return StoreReader(
            env=pulumi.Output.secret(env),
            uri=pulumi.Output.from_input(store.uri).apply(lambda u: "s3://" + u.split("://", 1)[1]),
            resources={"storeReader": account, "storeReaderAccess": grant, "storeReaderKey": key},
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
        """The serving VM: waits for the artifact, then vLLM behind the token from Secret Manager.
        When training ran on another cloud, that cloud's backend grants read-only keys to
        its store, kept here as a second secret the VM reads at boot."""
        check_cloud(plan, self.name, "serve")
        accelerator_type(plan.serve)
        offering = plan.serve
        opts = pulumi.ResourceOptions(parent=parent)
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=account_id(settings.stack, "serve"),
            display_name=f"Stratos serving node ({settings.stack})",
            opts=opts,
        )
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        secret, version, secret_access = self._secret(parent, f"{name}-token", settings, "endpoint-token", token, member)
        resources: dict[str, pulumi.Resource] = {
            "token": secret,
            "tokenVersion": version,
            "serviceAccount": account,
            "tokenAccess": secret_access,
        }
        boot_needs: list[pulumi.Resource] = [secret_access, version]
        if plan.train.cloud == self.name:
            read = gcp.storage.BucketIAMMember(
                f"{name}-bucket-read",
                bucket=store.resources["bucket"].name,
                role="roles/storage.objectViewer",
                member=member,
                opts=opts,
            )
            resources["bucketRead"] = read
            boot_needs.append(read)
            store_uri, store_region, env_ref = pulumi.Output.from_input(store.uri), offering.region or "", None
        else:
            from infra.backends import get_backend

            reader = get_backend(plan.train.cloud).store_reader(parent, name, plan, settings, store)
            creds, creds_version, creds_access = self._secret(
                parent, f"{name}-store-credentials", settings, "store-credentials", reader.env, member
            )
            resources.update(
                reader.resources, storeCredentials=creds, storeCredentialsVersion=creds_version,
                storeCredentialsAccess=creds_access,
            )
            boot_needs += [creds_version, creds_access]
            store_uri, store_region, env_ref = reader.uri, plan.train.region or "", creds.secret_id
        tag = f"{label_value(settings.stack)}-serve"
        port = settings.serving_port
        address, external = self._endpoint_address(parent, name, offering, settings)
        tls = endpoint_tls(parent, name, settings, address.address)
        tls_key, tls_version, tls_access = self._secret(
            parent, f"{name}-tls-key", settings, "endpoint-tls-key", tls.key_pem, member
        )
        resources.update(tls.resources, address=address, tlsKey=tls_key, tlsKeyVersion=tls_version,
                         tlsKeyAccess=tls_access)
        boot_needs += [tls_version, tls_access]
        if settings.allowed_cidrs:
            resources["firewall"] = self._firewall(parent, f"{name}-fw", port, settings.allowed_cidrs, tag, "endpoint")
        ssh = self._ssh(parent, name, settings, tag)
        if ssh is not None:
            resources["sshFirewall"] = ssh
        model_name = plan.served_model_name
        script = pulumi.Output.all(store_uri, secret.secret_id, env_ref, tls.cert_pem, tls_key.secret_id).apply(
            lambda a: render_serving(
                plan,
                NodeScript(
                    cloud="gcp", region=store_region, store_uri=a[0], port=port,
                    token_ref=a[1], model_name=model_name, store_env_ref=a[2] or "",
                    tls_cert=a[3], tls_key_ref=a[4],
                ),
            )
        )
        labels = cost_tags("serve", settings.stack, plan.cost.total_usd, settings.request.constraints.budget_usd)
        instance = self._instance(
            parent, name, offering, account, serving_disk_gb(plan), script, labels, tag, boot_needs,
            address=address, external=external,
        )
        resources["instance"] = instance
        return EndpointOutputs(
            url=pulumi.Output.concat("https://", address.address, f":{port}/v1"),
            model_name=model_name,
            resources=resources,
            certificate=tls.cert_pem,
            certificate_sha256=tls.sha256,
        )

    def _endpoint_address(
        self, parent, name: str, offering: Offering, settings: Settings
    ) -> tuple[gcp.compute.Address, bool]:
        """The endpoint's reserved address (the certificate names it): external only when the
        request opens the endpoint to some CIDRs (network.allowed_cidrs), else internal, reached
        from the VPC (a peering, a VPN, IAP)."""
        region = offering.region or ""
        _, subnet = self._network(parent, name, region)
        external = bool(settings.allowed_cidrs)
        address = gcp.compute.Address(
            f"{name}-ip",
            region=region,
            address_type="EXTERNAL" if external else "INTERNAL",
            subnetwork=None if external else subnet.id,
            description=f"Stratos endpoint ({settings.stack})",
            opts=pulumi.ResourceOptions(parent=parent),
        )
        return address, external
