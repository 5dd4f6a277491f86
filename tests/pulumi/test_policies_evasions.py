"""The policy rules against the ways around them: a firewall with no source ranges, protocols
spelt as numbers or in capitals, CIDRs split in halves, an untagged instance, an instance in
another zone, and values the engine does not know during a preview."""

from __future__ import annotations

import pytest
from helpers.cloud_mocks import run_program
from helpers.cloud_plans import aws_plan
from helpers.policy_views import edit, policy_request

from infra.policies.rules import UNKNOWN, budget_guard, instances_match_plan, no_open_ssh
from infra.policies.tags import ESTIMATED_CENTS, ZONE_ID

HALVES = ["0.0.0.0/1", "128.0.0.0/1"]


_edit = edit


def test_the_stacks_the_backends_build_still_pass(aws_view, gcp_view) -> None:
    for view in (aws_view, gcp_view):
        assert no_open_ssh(view) == [] and budget_guard(view) == [] and instances_match_plan(view) == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.pop("sourceRanges"), id="no sourceRanges = 0.0.0.0/0"),
        pytest.param(lambda p: p.update(sourceRanges=[]), id="empty sourceRanges"),
        pytest.param(lambda p: p.update(sourceRanges=HALVES), id="0.0.0.0/1 + 128.0.0.0/1"),
        pytest.param(lambda p: p.update(sourceRanges=HALVES, allows=[{"protocol": "TCP", "ports": ["22"]}]), id="TCP"),
        pytest.param(lambda p: p.update(sourceRanges=HALVES, allows=[{"protocol": "6", "ports": ["20-30"]}]), id="6"),
        pytest.param(lambda p: p.update(sourceRanges=HALVES, allows=[{"protocol": "ALL"}]), id="ALL"),
        pytest.param(lambda p: p.update(sourceRanges=["0.0.0.0/0"], direction="ingress"), id="lowercase direction"),
    ],
)
def test_gcp_firewall_evasions_fail_the_ssh_rule(gcp_view, change) -> None:
    (v,) = no_open_ssh(_edit(gcp_view, "trainer-ssh", change))
    assert "trainer-ssh" in v and "port 22" in v


def test_gcp_firewall_limited_to_source_tags_is_not_the_world(gcp_view) -> None:
    tagged = _edit(gcp_view, "trainer-ssh", lambda p: (p.pop("sourceRanges"), p.update(sourceTags=["bastion"])))
    assert no_open_ssh(tagged) == []


@pytest.mark.parametrize(
    "rule",
    [
        {"protocol": "TCP", "fromPort": 22, "toPort": 22, "cidrBlocks": HALVES},
        {"protocol": "6", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]},
        {"protocol": -1, "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]},
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/1"], "ipv6CidrBlocks": ["::/1", "8000::/1"]},
    ],
)
def test_aws_security_group_evasions_fail_the_ssh_rule(aws_view, rule) -> None:
    (v,) = no_open_ssh(_edit(aws_view, "trainer-sg", lambda p: p["ingress"].append(rule)))
    assert "trainer-sg" in v


def test_half_the_internet_alone_is_not_flagged_as_all_of_it(aws_view) -> None:
    half = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/1"]}
    assert no_open_ssh(_edit(aws_view, "trainer-sg", lambda p: p["ingress"].append(half))) == []


@pytest.mark.parametrize(("cloud", "key"), [("aws", "tags"), ("gcp", "labels")])
def test_an_instance_without_cost_tags_fails_the_budget_rule(aws_view, gcp_view, cloud, key) -> None:
    view = aws_view if cloud == "aws" else gcp_view
    untagged = _edit(view, "trainer-instance", lambda p: p[key].pop(ESTIMATED_CENTS))
    (v,) = budget_guard(untagged)
    assert "trainer-instance" in v and ESTIMATED_CENTS in v
    (v,) = budget_guard(_edit(view, "endpoint-instance", lambda p: p.pop(key)))
    assert "endpoint-instance" in v


def test_aws_instance_in_another_zone_fails_the_plan_check(aws_view) -> None:
    # The plan names use1-az2 (an ID); the backend looked it up and tagged the instance with it.
    trainer = next(r for r in aws_view if r.name == "trainer-instance")
    assert trainer.props["tags"][ZONE_ID] == "use1-az2"
    other = _edit(aws_view, "trainer-instance", lambda p: p["tags"].update({ZONE_ID: "use1-az4"}))
    assert "zone ID use1-az4" in instances_match_plan(other)[0]
    other_region = _edit(aws_view, "trainer-instance", lambda p: p.update(availabilityZone="us-west-2a"))
    assert "not in the planned region us-east-1" in instances_match_plan(other_region)[0]


def test_aws_plan_with_a_zone_name_compares_it_directly() -> None:
    plan = aws_plan()
    plan = plan.model_copy(update={"train": plan.train.model_copy(update={"zone": "us-east-1c"})})
    view = run_program(plan, policy_request("aws"), "mahjong-aws").policy_view()
    assert instances_match_plan(view) == []
    moved = _edit(view, "trainer-instance", lambda p: p.update(availabilityZone="us-east-1d"))
    assert "availability zone us-east-1d != planned us-east-1c" in instances_match_plan(moved)[0]


@pytest.mark.parametrize(
    ("rule", "name", "change", "named"),
    [
        (no_open_ssh, "trainer-ssh", lambda p: p.update(sourceRanges=UNKNOWN), "sourceRanges"),
        (no_open_ssh, "trainer-ssh", lambda p: p.update(sourceRanges=["10.0.0.0/8", UNKNOWN]), "sourceRanges"),
        (budget_guard, "trainer-instance", lambda p: p["labels"].update({ESTIMATED_CENTS: UNKNOWN}), "labels"),
        (instances_match_plan, "endpoint-instance", lambda p: p.update(zone=UNKNOWN), "zone"),
        (instances_match_plan, "artifacts-plan", lambda p: p.update(content=UNKNOWN), "content"),
    ],
)
def test_unknown_at_preview_is_reported_not_passed(gcp_view, rule, name, change, named) -> None:
    (v,) = rule(_edit(gcp_view, name, change))
    assert name in v and named in v and "unknown during the preview" in v
