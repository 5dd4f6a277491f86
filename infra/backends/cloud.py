"""What the cloud backends share: checks made before creating anything, the run's place
in the bucket, the secrets a training node reads, the job resource that waits for the
node, and the hand-off when a plan trains on one cloud and serves on the other (kept
apart so the GCP backend does not import ``pulumi_aws`` unless a plan needs it)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.backends.base import JobOutputs, StoreOutputs, child_urn, job_id
from infra.bootstrap.render import NodeScript, render_training, source_archive
from infra.components.distillation_job import TYPE as JOB_TYPE
from infra.providers.cloud_job import CloudDistillationJob
from stratos.exceptions import ConfigError
from stratos.planner.plan import Plan

#: SkyPilot accelerator names -> Compute Engine accelerator types (the GCP backend
#: attaches them; the policy pack compares a VM's accelerators with the plan).
ACCELERATOR_TYPES = {
    "T4": "nvidia-tesla-t4",
    "P4": "nvidia-tesla-p4",
    "P100": "nvidia-tesla-p100",
    "V100": "nvidia-tesla-v100",
    "L4": "nvidia-l4",
    "A100": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H100-MEGA": "nvidia-h100-mega-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
}


def cloud_job(
    parent: pulumi.Resource, name: str, plan: Plan, settings: Any, store: StoreOutputs,
    head: pulumi.Resource, node_id: pulumi.Input[str], region: str,
) -> JobOutputs:
    """The job resource whose create waits for the training node's completion marker
    (``infra/providers/cloud_job.py``), with the same outputs as the local job."""
    timeout = plan.job_timeout_s(on_node=True)
    job = CloudDistillationJob(
        f"{name}-run",
        {
            "jobId": job_id(plan, settings),
            "storeUri": store.uri,
            "nodeId": node_id,
            "region": region,
            "timeoutSeconds": timeout,
            "instanceUrn": head.urn,
            "estimatedTotalUsd": plan.cost.total_usd,
            "budgetUsd": settings.request.constraints.budget_usd,
            "urn": child_urn(JOB_TYPE, f"{name}-run", CloudDistillationJob),
        },
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[head],
            custom_timeouts=pulumi.CustomTimeouts(create=f"{timeout}s", update=f"{timeout}s"),
        ),
    )
    return JobOutputs(
        artifact_uri=job.artifactUri, manifest_hash=job.manifestHash, metrics=job.metrics, resources={"job": job}
    )


def source_asset(plan: Plan) -> pulumi.AssetArchive:
    """The Stratos source the nodes install from, with the plan's task files, as one archive object in the store."""
    files = source_archive(plan.task_ref.files() if plan.task_ref else ())
    return pulumi.AssetArchive({k: pulumi.FileAsset(str(p)) for k, p in files.items()})


def run_prefix(settings: Any) -> str:
    """The stack's folder in the artifact bucket (what the nodes' roles may touch)."""
    return f"runs/{settings.stack}"


def job_prefix(plan: Plan, settings: Any) -> str:
    """One run's folder: a new plan is a new prefix, so no marker of an older run is read as its own."""
    return f"{run_prefix(settings)}/job-{job_id(plan, settings)}"


@dataclass(frozen=True)
class NodeSecret:
    """A stack secret a training node reads at run time: ``env`` is the variable the job reads,
    ``what`` the secret's short name in the cloud's secret store."""

    env: str
    what: str
    value: pulumi.Output[str]


def training_secrets(settings: Any) -> list[NodeSecret]:
    """The secrets set on the stack that the training job needs (none are required here:
    ``check_secrets`` refuses a plan that needs a missing one)."""
    pairs = [
        ("STRATOS_TEACHER_API_KEY", "teacher-api-key", settings.teacher_api_key),
        ("HF_TOKEN", "hf-token", settings.hf_token),
    ]
    return [NodeSecret(env, what, value) for env, what, value in pairs if value is not None]


def check_ssh_cidrs(cidrs: list[str]) -> list[str]:
    """The SSH CIDRs, refusing any that opens port 22 to the whole internet."""
    for cidr in cidrs:
        if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
            raise ConfigError(
                f"stratos:network.ssh_cidrs contains {cidr}, which opens SSH to the whole internet. "
                "Use your own address (e.g. 203.0.113.7/32), or leave ssh_cidrs empty "
                "(AWS SSM Session Manager / GCP IAP reach the node without an open port)."
            )
    return list(cidrs)


def check_cloud(plan: Plan, cloud: str, role: str) -> None:
    """The plan must put ``role`` (train | serve) on this backend's cloud, and the other
    server on a cloud a Stratos backend can hand the artifact to."""
    offering = plan.train if role == "train" else plan.serve
    if offering.cloud != cloud:
        raise ConfigError(
            f"the plan puts {role} on {offering.label}, not on {cloud}; the program picks the "
            f"backend from the plan, so this is a wiring bug: report it with `stratos plan --json`."
        )
    for other in (plan.train, plan.serve):
        if other.cloud not in CLOUDS:
            raise ConfigError(
                f"the plan puts a server on {other.label}; cloud stacks deploy to {', '.join(CLOUDS)} only. "
                f"Limit stratos:clouds to {list(CLOUDS)}."
            )


CLOUDS = ("aws", "gcp")


@dataclass(frozen=True)
class Placement:
    """What one cloud's placement group for several training nodes takes."""

    kind: str
    max_nodes: int | None
    families: tuple[str, ...] | None  # instance families it takes; None = all but ``excluded``
    excluded: tuple[str, ...] = ()


#: AWS cluster placement groups take current-generation families (not burstable or Mac) and
#: no fixed count; Compute Engine compact placement policies take up to 150 VMs of the
#: A2/A3/G2/C2/C2D/N2/N2D series (not N1, so not T4/V100/P100 VMs).
PLACEMENT = {
    "aws": Placement("cluster placement group", None, None, ("t2", "t3", "t3a", "t4g", "mac1", "mac2")),
    "gcp": Placement("compact placement policy", 150, ("a2", "a3", "g2", "c2", "c2d", "n2", "n2d")),
}


def check_nodes(plan: Plan) -> None:
    """``train_nodes`` > 1 needs a placement group the instance type can join, and no more
    nodes than it takes; the error names ``stratos:job.nodes``."""
    n, offering = plan.train_nodes, plan.train
    if n == 1:
        return
    rule = PLACEMENT[offering.cloud]
    family = offering.instance_type.split(".")[0] if offering.cloud == "aws" else offering.instance_type.split("-")[0]
    refused = family in rule.excluded or (rule.families is not None and family not in rule.families)
    if refused:
        raise ConfigError(
            f"stratos:job.nodes = {n}: {offering.instance_type} cannot join a {offering.cloud} {rule.kind}, "
            f"which the nodes need for their rendezvous and NCCL traffic. Set job.nodes to 1, or limit "
            f"stratos:gpus to GPUs sold on {', '.join(rule.families or ('current-generation',))} instances."
        )
    if rule.max_nodes is not None and n > rule.max_nodes:
        raise ConfigError(
            f"stratos:job.nodes = {n} is above the {rule.max_nodes} instances a {offering.cloud} {rule.kind} "
            f"takes; set job.nodes to at most {rule.max_nodes}."
        )


def training_script(
    plan: Plan, settings: Any, cloud: str, store_uri: pulumi.Input[str], rank: int, head: pulumi.Input[str],
    secret_refs: list[tuple[str, pulumi.Input[str]]],
) -> pulumi.Output[str]:
    """Node ``rank``'s bootstrap: ``head`` is node 0's private address (``""`` on node 0),
    ``secret_refs`` pairs the job's environment variables with their secrets' names."""
    envs = [env for env, _ in secret_refs]
    return pulumi.Output.all(store_uri, head, *[ref for _, ref in secret_refs]).apply(
        lambda a: render_training(plan, NodeScript(
            cloud=cloud, region=plan.train.region or "", store_uri=a[0], job_id=job_id(plan, settings),
            node_rank=rank, head=a[1], secret_refs=tuple(zip(envs, a[2:], strict=True)),
        ))
    )


def node_names(name: str, plan: Plan) -> list[str]:
    """Instance resource names, node 0 first (``<name>-instance`` keeps a one-node stack's URN)."""
    return [f"{name}-instance"] + [f"{name}-instance-{r}" for r in range(1, plan.train_nodes)]


@dataclass(frozen=True)
class StoreReader:
    """Read-only access to an artifact store from a node on another cloud: ``env`` holds
    the variables (``KEY=VALUE`` lines, a secret) the node exports so that ``aws s3``
    reads the store; ``uri`` is the store as that CLI addresses it."""

    env: pulumi.Output[str]
    uri: pulumi.Output[str]
    resources: dict[str, pulumi.Resource]


def env_lines(env: dict[str, str]) -> str:
    """``KEY=VALUE`` lines (the bootstrap reads them without a shell ``eval``)."""
    return "".join(f"{k}={v}\n" for k, v in sorted(env.items()))


@dataclass(frozen=True)
class ServingStore:
    """How a serving node reads the artifact: the store as its CLI addresses it, the region
    its client names, and the secret holding read-only keys when the store is on another cloud."""

    uri: pulumi.Output[str]
    region: str
    env_ref: pulumi.Output[str] | None
    resources: dict[str, pulumi.Resource]


#: (resource name, secret's short name, value) -> (the secret's ref for the node, its resources)
KeepSecret = Callable[[str, str, pulumi.Output[str]], tuple[pulumi.Output[str], dict[str, pulumi.Resource]]]


def serving_store(
    serve_cloud: str, parent: pulumi.Resource, name: str, plan: Plan, settings: Any, store: StoreOutputs,
    keep_secret: KeepSecret,
) -> ServingStore | None:
    """The cross-cloud hand-off, written once: None when training ran on ``serve_cloud`` (the
    backend grants its node read access itself); otherwise the training cloud's backend makes
    read-only keys to its store and ``keep_secret`` keeps them in the serving cloud's secret
    store, readable by the serving node only."""
    if plan.train.cloud == serve_cloud:
        return None
    from infra.backends import get_backend

    reader = get_backend(plan.train.cloud).store_reader(parent, name, plan, settings, store)
    ref, resources = keep_secret(f"{name}-store-credentials", "store-credentials", reader.env)
    # AWS's CLI wants a region; GCS's S3 API accepts any ("auto").
    region = (plan.train.region or "") if plan.train.cloud == "aws" else "auto"
    return ServingStore(uri=reader.uri, region=region, env_ref=ref, resources={**reader.resources, **resources})
