"""Several training nodes and what a cloud run stores: the pure functions, and the planner
pricing N nodes, the kept disks, the bucket and cross-cloud egress."""

from __future__ import annotations

import numpy as np
import pytest

from stratos.catalog.offering import Offering
from stratos.planner import make_plan, nodes, storage
from stratos.spec import parse_request
from stratos.zoo.registry import get_model

T4 = Offering(cloud="aws", region="us-east-1", zone="use1-az1", instance_type="g4dn.xlarge", accelerator="T4",
              accelerator_count=1, vcpus=4, memory_gb=16, price_per_hour=0.526)
A100 = Offering(cloud="gcp", region="us-central1", zone="us-central1-a", instance_type="a2-highgpu-1g",
                accelerator="A100", accelerator_count=1, vcpus=12, memory_gb=85, price_per_hour=3.67)
L4_AWS = Offering(cloud="aws", region="us-east-1", zone="use1-az1", instance_type="g6.xlarge", accelerator="L4",
                  accelerator_count=1, vcpus=4, memory_gb=16, price_per_hour=0.8048)


def test_nodes_needed_is_the_fewest_that_hold_the_state() -> None:
    # 100 GB of sharded state on 24 GB devices, 90% usable minus 1 GB reserve = 20.6 GB each.
    n = nodes.nodes_needed(100.0, np.array([24.0, 24.0, 80.0]), np.array([1, 2, 8]), 0.9, 1.0)
    assert n.tolist() == [5, 3, 1]
    assert nodes.nodes_needed(1e6, np.array([24.0]), np.array([1]), 0.9, 1.0).tolist() == [nodes.MAX_AUTO_NODES + 1]


def test_n_nodes_scale_throughput_at_the_stated_efficiency_and_bill_n_instances() -> None:
    tps = nodes.scaled_tokens_per_s(np.array([1000.0, 1000.0]), np.array([1, 4]))
    assert tps.tolist() == [1000.0, 4 * 1000.0 * nodes.INTER_NODE_EFFICIENCY]
    assert nodes.nodes_price_per_hour(np.array([2.0]), np.array([3])).tolist() == [6.0]


def test_storage_prices() -> None:
    assert storage.disk_usd("aws", 100, storage.HOURS_PER_MONTH) == pytest.approx(8.0)
    assert storage.disk_usd("gcp", 100, storage.HOURS_PER_MONTH / 2) == pytest.approx(5.0)
    assert storage.bucket_usd("aws", 10, storage.HOURS_PER_MONTH) == pytest.approx(0.23)
    assert storage.egress_usd("aws", "gcp", 2.0) == pytest.approx(0.18)
    assert storage.egress_usd("gcp", "gcp", 2.0) == 0.0
    assert storage.artifact_gb("qwen2.5-0.5b-instruct") == pytest.approx(0.494 * 2)


def _plan(offerings, **req):
    base = {"target": "aws", "clouds": ["aws", "gcp"], "constraints": {"serving_hours": 24}}
    return make_plan(parse_request({**base, **req}), offerings=offerings).chosen


def test_a_student_too_big_for_one_instance_gets_several_priced_as_several() -> None:
    # An 8B LoRA student needs ~21 GB of training state: not one T4 (16 GB), two of them.
    student = get_model("llama-3.1-8b-instruct")
    req = {"target": "aws", "clouds": ["aws", "gcp"], "teacher": "gpt-4o", "student": student.id,
           "constraints": {"serving_hours": 24}}
    result = make_plan(parse_request(req), offerings=[T4, A100])
    on_t4 = [c for c in result.candidates if c.train.instance_type == "g4dn.xlarge"]
    on_a100 = [c for c in result.candidates if c.train.instance_type == "a2-highgpu-1g"]
    assert on_t4 and on_a100
    assert {c.train_nodes for c in on_t4} == {2} and {c.train_nodes for c in on_a100} == {1}
    forced = _plan([T4, A100], teacher="gpt-4o", student=student.id, job={"nodes": 3})
    assert forced.train_nodes == 3
    assert any("3 training nodes" in a for a in forced.cost.assumptions)


def test_forced_nodes_cost_n_times_the_instance_hours() -> None:
    one = _plan([L4_AWS], student="qwen2.5-0.5b-instruct", teacher="gpt-4o-mini", gpus=["L4"], clouds=["aws"])
    three = _plan([L4_AWS], student="qwen2.5-0.5b-instruct", teacher="gpt-4o-mini", gpus=["L4"], clouds=["aws"],
                  job={"nodes": 3})
    assert (one.train_nodes, three.train_nodes) == (1, 3)
    hourly = L4_AWS.price_per_hour
    # Training dollars = nodes x price x hours (synthesis runs on the API, billed apart).
    per_hour_one = one.cost.training_usd / (one.objectives.train_hours)
    per_hour_three = three.cost.training_usd / (three.objectives.train_hours)
    assert per_hour_one == pytest.approx(hourly, rel=0.05)
    assert per_hour_three == pytest.approx(3 * hourly, rel=0.05)


def test_cloud_plans_price_disks_and_bucket_and_cross_cloud_egress() -> None:
    same = _plan([L4_AWS], student="qwen2.5-0.5b-instruct", teacher="gpt-4o-mini", clouds=["aws"])
    assert same.cost.storage_usd > 0
    assert same.cost.total_usd == pytest.approx(
        same.cost.synthesis_usd + same.cost.training_usd + same.cost.serving_usd + same.cost.storage_usd)
    # Train on (spot, cheap) AWS and serve on GCP: the artifact crosses clouds once.
    cheap = L4_AWS.model_copy(update={"spot": True, "price_per_hour": 0.01})
    gcp_l4 = Offering(cloud="gcp", region="us-central1", zone="us-central1-b", instance_type="g2-standard-4",
                      accelerator="L4", accelerator_count=1, vcpus=4, memory_gb=16, price_per_hour=0.70)
    cross = _plan([cheap, gcp_l4], student="qwen2.5-0.5b-instruct", teacher="gpt-4o-mini", spot=True)
    assert (cross.train.cloud, cross.serve.cloud) == ("aws", "gcp")
    egress = storage.egress_usd("aws", "gcp", storage.artifact_gb("qwen2.5-0.5b-instruct"))
    disks = storage.disk_usd("gcp", storage.serving_disk_gb("qwen2.5-0.5b-instruct"), 24)
    assert cross.cost.storage_usd >= egress + disks
