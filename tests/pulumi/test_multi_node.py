"""Several training nodes under mocks: N identical instances in a placement group, a rule
open only between them, node scripts ranked and pointed at node 0; a node count the
instance type's placement group cannot take fails the preview naming `job.nodes`."""

from __future__ import annotations

import re

import pytest
from helpers.cloud_mocks import run_program
from helpers.cloud_plans import aws_plan, gcp_plan, on_nodes

from infra.policies.rules import RULES
from stratos.catalog.offering import Offering
from stratos.exceptions import ConfigError
from stratos.spec import DistillationRequest

CIDRS = ["203.0.113.0/24"]


def _request(target: str) -> DistillationRequest:
    return DistillationRequest(target=target, constraints={"budget_usd": 40}, network={"allowed_cidrs": CIDRS})


def _slot(script: str, name: str) -> str:
    return re.search(rf"^{name}=(.*)$", script, re.M).group(1)


def test_aws_three_nodes_share_a_cluster_placement_group_and_talk_only_to_each_other() -> None:
    s = run_program(on_nodes(aws_plan(), 3), _request("aws"), "mahjong-aws")
    (_, group), = s.of_type("aws:ec2/placementGroup:PlacementGroup").items()
    assert group["strategy"] == "cluster"
    nodes = {u.rsplit("::", 1)[1]: st for u, st in s.of_type("aws:ec2/instance:Instance").items()
             if st["tags"]["stratos-role"] == "train"}
    assert sorted(nodes) == ["trainer-instance", "trainer-instance-1", "trainer-instance-2"]
    assert {st["placementGroup"] for st in nodes.values()} == {group["name"]}
    assert len({st["instanceType"] for st in nodes.values()}) == 1
    for rank, name in enumerate(sorted(nodes)):
        ud = nodes[name]["userData"]
        assert (_slot(ud, "STRATOS_NODES"), _slot(ud, "STRATOS_NODE_RANK")) == ("3", str(rank))
        assert _slot(ud, "STRATOS_HEAD") == ("''" if rank == 0 else "10.0.1.23"), "workers reach node 0's private IP"
    _, sg = s.one("aws:ec2/securityGroup:SecurityGroup", "trainer-sg")
    (rule,) = sg["ingress"]
    assert (rule["self"], rule["protocol"], rule["fromPort"], rule["toPort"]) == (True, "tcp", 0, 65535)
    assert not rule.get("cidrBlocks"), "open between the nodes only, not to any network"
    for name, (_, rule_fn) in RULES.items():
        assert rule_fn(s.policy_view()) == [], name


def test_gcp_two_nodes_get_a_compact_policy_and_a_firewall_between_them_only() -> None:
    s = run_program(on_nodes(gcp_plan(), 2), _request("gcp"), "mahjong-gcp")
    (_, policy), = s.of_type("gcp:compute/resourcePolicy:ResourcePolicy").items()
    assert policy["groupPlacementPolicy"] == {"collocation": "COLLOCATED", "vmCount": 2}
    assert policy["region"] == "us-central1"
    vms = {u.rsplit("::", 1)[1]: st for u, st in s.of_type("gcp:compute/instance:Instance").items()
           if st["labels"]["stratos-role"] == "train"}
    assert sorted(vms) == ["trainer-instance", "trainer-instance-1"]
    assert all(st["resourcePolicies"] == policy["selfLink"] for st in vms.values())
    _, fw = s.one("gcp:compute/firewall:Firewall", "trainer-nodes")
    tag = vms["trainer-instance"]["tags"][0]
    assert fw["sourceTags"] == fw["targetTags"] == [tag] and not fw.get("sourceRanges")
    assert _slot(vms["trainer-instance-1"]["metadataStartupScript"], "STRATOS_HEAD") == "10.128.0.7"
    for name, (_, rule_fn) in RULES.items():
        assert rule_fn(s.policy_view()) == [], name


def test_one_node_creates_no_placement_group_or_node_rule() -> None:
    s = run_program(aws_plan(), _request("aws"), "mahjong-aws")
    assert not s.of_type("aws:ec2/placementGroup:PlacementGroup")
    assert not s.one("aws:ec2/securityGroup:SecurityGroup", "trainer-sg")[1].get("ingress")


def test_nodes_the_placement_group_cannot_take_fail_the_preview_naming_the_key() -> None:
    plan = gcp_plan()
    n1 = on_nodes(plan, 2).model_copy(update={"train": Offering(**{
        **plan.train.model_dump(), "instance_type": "n1-standard-8", "accelerator": "T4"})})
    with pytest.raises(ConfigError, match=r"stratos:job.nodes = 2: n1-standard-8 cannot join a gcp compact placement"):
        run_program(n1, _request("gcp"), "mahjong-gcp", preview=True)
    with pytest.raises(ConfigError, match=r"stratos:job.nodes = 151 is above the 150"):
        run_program(on_nodes(plan, 151), _request("gcp"), "mahjong-gcp", preview=True)
    burst = on_nodes(aws_plan(), 2)
    burst = burst.model_copy(update={"train": burst.train.model_copy(update={"instance_type": "t3.xlarge"})})
    with pytest.raises(ConfigError, match=r"job.nodes = 2: t3.xlarge cannot join"):
        run_program(burst, _request("aws"), "mahjong-aws", preview=True)
