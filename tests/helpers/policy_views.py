"""The AWS/GCP mock stacks as the policy rules see them, and edits of them (what a user or a
bug could change), for the policy tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from helpers.cloud_mocks import run_program
from helpers.cloud_plans import aws_plan, gcp_plan
from infra.policies.rules import Res
from stratos.spec import DistillationRequest


def policy_request(target: str, budget: float = 40) -> DistillationRequest:
    return DistillationRequest(
        target=target, constraints={"budget_usd": budget},
        network={"allowed_cidrs": ["203.0.113.0/24"], "ssh_cidrs": ["192.0.2.7/32"]},
    )


def stack_view(cloud: str) -> list[Res]:
    """The resources the program registers for its cloud's test plan, as the pack receives them."""
    plan = aws_plan() if cloud == "aws" else gcp_plan()
    return run_program(plan, policy_request(cloud), f"mahjong-{cloud}").policy_view()


def edit(view: list[Res], name: str, change: Callable[[dict[str, Any]], Any]) -> list[Res]:
    """A copy of the stack with ``change(props)`` applied to the resource named ``name``."""
    out = []
    for r in view:
        props = copy.deepcopy(r.props)
        if r.name == name:
            change(props)
        out.append(Res(r.type, r.urn, props, r.deps))
    return out
