"""What the cloud backends share: checks made before creating anything, and the
hand-off when a plan trains on one cloud and serves on the other (kept apart so
the GCP backend does not import ``pulumi_aws`` unless a plan needs it)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.backends.base import JobOutputs
from infra.bootstrap.render import source_archive
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


def launched_job(store_uri: pulumi.Input[str], instance_ref: pulumi.Input[str]) -> JobOutputs:
    """A cloud job runs from the training node's bootstrap after ``pulumi up`` returns, so
    its outputs point at where the results will appear: the completion marker holds the
    manifest hash and metrics, the failure marker the error."""
    uri = pulumi.Output.from_input(store_uri)
    return JobOutputs(
        artifact_uri=uri.apply(lambda u: f"{u}/artifact"),
        manifest_hash=uri.apply(lambda u: f"see {u}/_COMPLETE.json"),
        metrics={
            "status": "launched",
            "completionMarker": uri.apply(lambda u: f"{u}/_COMPLETE.json"),
            "failureMarker": uri.apply(lambda u: f"{u}/_FAILED.txt"),
            "instance": instance_ref,
        },
    )


def source_asset() -> pulumi.AssetArchive:
    """The Stratos source the nodes install from, as one archive object in the store."""
    return pulumi.AssetArchive(
        {k: (pulumi.FileArchive(str(p)) if p.is_dir() else pulumi.FileAsset(str(p))) for k, p in source_archive().items()}
    )


def run_prefix(settings: Any) -> str:
    """The stack's folder in the artifact bucket: everything a run writes lives under it."""
    return f"runs/{settings.stack}"


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
