"""``TrainingCluster``: the server(s) the distillation job runs on."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.backends.base import Backend, ClusterOutputs, StoreOutputs
from infra.config import Settings
from stratos.planner.plan import Plan

TYPE = "stratos:index:TrainingCluster"


@dataclass(frozen=True)
class TrainingClusterArgs:
    backend: Backend
    plan: Plan
    settings: Settings
    store: StoreOutputs


class TrainingCluster(pulumi.ComponentResource):
    """This machine, or a cloud instance of exactly the planned type."""

    def __init__(
        self, name: str, args: TrainingClusterArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(TYPE, name, None, opts)
        self.outputs: ClusterOutputs = args.backend.training_cluster(
            self, name, args.plan, args.settings, args.store
        )
        self.host: pulumi.Output[str] = pulumi.Output.from_input(self.outputs.host)
        self.instance_type: pulumi.Output[str] = pulumi.Output.from_input(
            self.outputs.instance_type
        )
        self.register_outputs({"host": self.host, "instanceType": self.instance_type})
