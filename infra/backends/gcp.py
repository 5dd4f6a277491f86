"""GCP backend: the plan's GPU servers as Compute Engine VMs around a private GCS bucket.

What ``pulumi up`` creates (the project comes from ``gcp:project``; every resource
names its own region or zone from the plan):

* ``artifact_store``: a GCS bucket in the training region with uniform bucket-level
  access, public access prevention enforced and versioning (GCS encrypts every object
  at rest), holding ``runs/<stack>/plan.json`` and the Stratos source archive.
* ``training_cluster``: a service account granted object access on that bucket only,
  the stack's secrets the job needs (``teacherApiKey``, ``hfToken``) in Secret
  Manager readable by that account only, an SSH firewall rule only when
  ``network.ssh_cidrs`` is set, and ``plan.train_nodes`` training VMs (with a compact
  placement policy and a firewall rule open only between them when more than one):
  the planned machine type and zone with ``guest_accelerators`` = the planned GPU and
  count, ``on_host_maintenance: TERMINATE`` (GPU VMs cannot live-migrate), spot per
  plan, a Deep Learning VM image, and the training bootstrap as its startup script.
* ``distillation_job``: a ``CloudDistillationJob`` whose create waits for the node's
  completion marker in the bucket and exports the node's metrics.
* ``serving_endpoint``: the token and the TLS key in Secret Manager (written as Pulumi
  secrets), a service account that can read the bucket and those secrets only, a
  reserved address the certificate names (external only with ``network.allowed_cidrs``),
  a firewall rule opening only the serving port to those CIDRs, and the serving VM
  (created once the job has finished): vLLM on 127.0.0.1 behind the TLS gateway.

Every VM is on the stack's own VPC (Private Google Access, Cloud NAT); training VMs
have no external address.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.backends.base import ClusterOutputs, EndpointOutputs, JobOutputs, StoreOutputs
from infra.backends.cloud import (
    ACCELERATOR_TYPES,
    StoreReader,
    check_cloud,
    check_nodes,
    check_ssh_cidrs,
    cloud_job,
    env_lines,
    job_prefix,
    node_names,
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
        resource_policy: pulumi.Input[str] | None = None,
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
            name,
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
            resource_policies=resource_policy,
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
        check_nodes(plan)
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
        prefix = job_prefix(plan, settings)
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
            source=source_asset(plan),
            opts=opts,
        )
        return StoreOutputs(
            uri=pulumi.Output.concat("gs://", bucket.name, "/", prefix),
            resources={"bucket": bucket, "plan": plan_object, "source": source},
        )

    def _placement(self, parent, name: str, plan: Plan, tag: str) -> tuple[pulumi.Output[str] | None, dict]:
        """For several VMs: a compact placement policy, and a firewall rule open only between them
        (torchrun's rendezvous and NCCL's ephemeral ports)."""
        if plan.train_nodes == 1:
            return None, {}
        opts = pulumi.ResourceOptions(parent=parent)
        placement = gcp.compute.ResourcePolicy(
            f"{name}-placement",
            region=plan.train.region,
            group_placement_policy=gcp.compute.ResourcePolicyGroupPlacementPolicyArgs(
                collocation="COLLOCATED", vm_count=plan.train_nodes
            ),
            opts=opts,
        )
        nodes_fw = gcp.compute.Firewall(
            f"{name}-nodes",
            network=self._network(parent, name, plan.train.region or "")[0].id,
            direction="INGRESS",
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["0-65535"])],
            source_tags=[tag],
            target_tags=[tag],
            description="Stratos training nodes",
            opts=opts,
        )
        return placement.self_link, {"placement": placement, "nodesFirewall": nodes_fw}

    def training_cluster(
        self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings, store: StoreOutputs
    ) -> ClusterOutputs:
        """The training VM(s); node 0's startup script is the job."""
        opts = pulumi.ResourceOptions(parent=parent)
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=account_id(settings.stack, "train"),
            display_name=f"Stratos training node ({settings.stack})",
            opts=opts,
        )
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        access = gcp.storage.BucketIAMMember(
            f"{name}-bucket-access", bucket=store.resources["bucket"].name, role="roles/storage.objectUser",
            member=member, opts=opts,
        )
        resources: dict[str, pulumi.Resource] = {"serviceAccount": account, "bucketAccess": access}
        refs: list[tuple[str, pulumi.Input[str]]] = []
        boot_needs: list[pulumi.Resource] = [access]
        for sec in training_secrets(settings):
            secret, version, grant = self._secret(parent, f"{name}-secret-{sec.what}", settings, sec.what, sec.value, member)
            refs.append((sec.env, secret.secret_id))
            resources.update({f"secret.{sec.env}": secret, f"secretVersion.{sec.env}": version, f"secretAccess.{sec.env}": grant})
            boot_needs += [version, grant]
        tag = f"{label_value(settings.stack)}-train"
        self._network(parent, name, plan.train.region or "")  # named after the cluster: made before any VM
        ssh = self._ssh(parent, name, settings, tag)
        if ssh is not None:
            resources["sshFirewall"] = ssh
        policy, placed = self._placement(parent, name, plan, tag)
        resources.update(placed)
        labels = cost_tags("train", settings.stack, plan.cost.total_usd, settings.request.constraints.budget_usd)
        instances: list[gcp.compute.Instance] = []
        for rank, node_name in enumerate(node_names(name, plan)):
            head = instances[0].network_interfaces.apply(lambda nics: nics[0].network_ip or "") if rank else ""
            script = training_script(plan, settings, self.name, store.uri, rank, head, refs)
            instances.append(self._instance(
                parent, node_name, plan.train, account, training_disk_gb(plan), script, labels, tag, boot_needs,
                resource_policy=policy,
            ))
        resources.update({"instance": instances[0], **{f"instance{r}": i for r, i in enumerate(instances[1:], 1)}})
        return ClusterOutputs(
            host=instances[0].network_interfaces.apply(lambda nics: nics[0].network_ip or ""),
            instance_type=instances[0].machine_type,
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
        """Waits for node 0's completion marker in the bucket (the node id is its VM name)."""
        head = cluster.resources["instance"]
        return cloud_job(parent, name, plan, settings, store, head, head.name, plan.train.region or "")

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

    def _store_for_serving(
        self, parent, name: str, plan: Plan, settings: Settings, store: StoreOutputs,
        member: pulumi.Output[str], boot_needs: list[pulumi.Resource],
    ) -> tuple[pulumi.Output[str], str, pulumi.Output[str] | None, dict[str, pulumi.Resource]]:
        """How the serving VM reads the artifact: object read on this bucket, or the read-only
        keys of another cloud's store kept in a secret only ``member`` reads (appends to
        ``boot_needs`` what must exist before the VM boots)."""

        def keep(res_name: str, what: str, value: pulumi.Output[str]):
            creds, creds_version, creds_access = self._secret(parent, res_name, settings, what, value, member)
            boot_needs.extend([creds_version, creds_access])
            return creds.secret_id, {
                "storeCredentials": creds, "storeCredentialsVersion": creds_version, "storeCredentialsAccess": creds_access,
            }

        foreign = serving_store(self.name, parent, name, plan, settings, store, keep)
        if foreign is not None:
            return foreign.uri, foreign.region, foreign.env_ref, foreign.resources
        read = gcp.storage.BucketIAMMember(
            f"{name}-bucket-read", bucket=store.resources["bucket"].name, role="roles/storage.objectViewer",
            member=member, opts=pulumi.ResourceOptions(parent=parent),
        )
        boot_needs.append(read)
        return pulumi.Output.from_input(store.uri), plan.serve.region or "", None, {"bucketRead": read}

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
        """The serving VM, created once the job has finished: vLLM on the artifact behind the
        token from Secret Manager. When training ran on another cloud, that cloud's backend
        grants read-only keys to its store, kept here as a second secret the VM reads at boot."""
        check_cloud(plan, self.name, "serve")
        accelerator_type(plan.serve)
        offering = plan.serve
        opts = pulumi.ResourceOptions(parent=parent)
        account = gcp.serviceaccount.Account(
            f"{name}-sa", account_id=account_id(settings.stack, "serve"),
            display_name=f"Stratos serving node ({settings.stack})", opts=opts,
        )
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        secret, version, secret_access = self._secret(parent, f"{name}-token", settings, "endpoint-token", token, member)
        resources: dict[str, pulumi.Resource] = {
            "token": secret, "tokenVersion": version, "serviceAccount": account, "tokenAccess": secret_access,
        }
        boot_needs: list[pulumi.Resource] = [secret_access, version, *job.resources.values()]
        store_uri, store_region, env_ref, reads = self._store_for_serving(
            parent, name, plan, settings, store, member, boot_needs
        )
        resources.update(reads)
        tag = f"{label_value(settings.stack)}-serve"
        port = settings.serving_port
        address, external, tls, tls_key = self._endpoint_tls(parent, name, offering, settings, member, boot_needs)
        resources.update(tls.resources, address=address, tlsKey=tls_key)
        if settings.allowed_cidrs:
            resources["firewall"] = self._firewall(parent, f"{name}-fw", port, settings.allowed_cidrs, tag, "endpoint")
        ssh = self._ssh(parent, name, settings, tag)
        if ssh is not None:
            resources["sshFirewall"] = ssh
        model_name = plan.served_model_name
        script = pulumi.Output.all(store_uri, secret.secret_id, env_ref, tls.cert_pem, tls_key.secret_id).apply(
            lambda a: render_serving(plan, NodeScript(
                cloud="gcp", region=store_region, store_uri=a[0], port=port, token_ref=a[1], model_name=model_name,
                store_env_ref=a[2] or "", tls_cert=a[3], tls_key_ref=a[4],
            ))
        )
        labels = cost_tags("serve", settings.stack, plan.cost.total_usd, settings.request.constraints.budget_usd)
        instance = self._instance(
            parent, f"{name}-instance", offering, account, serving_disk_gb(plan), script, labels, tag, boot_needs,
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

    def _endpoint_tls(
        self, parent, name: str, offering: Offering, settings: Settings, member: pulumi.Output[str],
        boot_needs: list[pulumi.Resource],
    ) -> tuple[gcp.compute.Address, bool, EndpointTls, gcp.secretmanager.Secret]:
        """The endpoint's reserved address, whether it is external, the certificate naming it, and
        its key in a secret only ``member`` reads (appends to ``boot_needs`` what the VM needs first)."""
        address, external = self._endpoint_address(parent, name, offering, settings)
        tls = endpoint_tls(parent, name, settings, address.address)
        key, version, access = self._secret(parent, f"{name}-tls-key", settings, "endpoint-tls-key", tls.key_pem, member)
        boot_needs += [version, access]
        return address, external, tls, key

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
