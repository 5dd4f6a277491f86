"""Plans for the AWS/GCP backend tests, built directly from catalog rows
(``/work/shared/catalog`` snapshot prices) so the tests do not depend on the planner."""

from __future__ import annotations

from stratos.catalog.offering import Offering
from stratos.planner.plan import CostEstimate, JobSettings, Objectives, Plan


def _plan(train: Offering, serve: Offering, total: float = 31.5) -> Plan:
    return Plan(
        task="mahjong",
        train=train,
        serve=serve,
        teacher="qwen2.5-7b-instruct",
        student="qwen2.5-0.5b-instruct",
        mode="injection",
        logit_kd=True,
        objectives=Objectives(cost_usd=total, latency_ms=120.0, accuracy=0.8, train_hours=1.5),
        cost=CostEstimate(
            synthesis_usd=1.5, training_usd=2.0, serving_usd=total - 3.5, total_usd=total,
            assumptions=["serving 24 h"],
        ),
        job=JobSettings(seed=7, n_train=2000),
        reasons=["cheapest L4 meeting the latency limit"],
    )


def on_nodes(plan: Plan, nodes: int) -> Plan:
    """``plan`` training on ``nodes`` identical instances (the count the planner writes to ``job.nodes``)."""
    return plan.model_copy(update={"job": plan.job.model_copy(update={"nodes": nodes})})


def aws_plan(spot: bool = True, total: float = 31.5) -> Plan:
    """Train on a spot g6.2xlarge (1x L4) in use1-az2, serve on an on-demand g6.xlarge."""
    train = Offering(
        cloud="aws", region="us-east-1", zone="use1-az2", instance_type="g6.2xlarge",
        accelerator="L4", accelerator_count=1, vcpus=8, memory_gb=32,
        price_per_hour=0.4462 if spot else 0.9776, spot=spot,
    )
    serve = Offering(
        cloud="aws", region="us-east-1", zone="use1-az1", instance_type="g6.xlarge",
        accelerator="L4", accelerator_count=1, vcpus=4, memory_gb=16, price_per_hour=0.8048,
    )
    return _plan(train, serve, total)


def gcp_plan(spot: bool = True, total: float = 31.5) -> Plan:
    """Train on a spot g2-standard-8 + 1x L4 in us-central1-a, serve on-demand in us-central1-b."""
    train = Offering(
        cloud="gcp", region="us-central1", zone="us-central1-a", instance_type="g2-standard-8",
        accelerator="L4", accelerator_count=1, vcpus=8, memory_gb=32,
        price_per_hour=0.11747 + 0.2231 if spot else 0.29358 + 0.56004, spot=spot,
    )
    serve = Offering(
        cloud="gcp", region="us-central1", zone="us-central1-b", instance_type="g2-standard-8",
        accelerator="L4", accelerator_count=1, vcpus=8, memory_gb=32, price_per_hour=0.29358 + 0.56004,
    )
    return _plan(train, serve, total)
