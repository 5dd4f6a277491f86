"""Checks every cloud backend makes before creating anything (shared by aws and gcp,
kept apart so the GCP backend does not import ``pulumi_aws``)."""

from __future__ import annotations

import ipaddress
from typing import Any

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


def check_cloud(plan: Plan, cloud: str) -> None:
    """The plan must place both servers on this backend's cloud."""
    for role, offering in (("train", plan.train), ("serve", plan.serve)):
        if offering.cloud != cloud:
            raise ConfigError(
                f"the plan puts {role} on {offering.label} but the other server on {cloud}; "
                f"a stack deploys to one cloud. Limit stratos:clouds to one of them (e.g. [{cloud}]) "
                "and run `pulumi preview` again."
            )
