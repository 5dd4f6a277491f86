"""``DistillationJob``: synthesis -> distillation -> evaluation, leaving a model artifact."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.backends.base import Backend, ClusterOutputs, JobOutputs, StoreOutputs
from infra.config import Settings
from stratos.planner.plan import Plan

TYPE = "stratos:index:DistillationJob"


@dataclass(frozen=True)
class DistillationJobArgs:
    backend: Backend
    plan: Plan
    settings: Settings
    store: StoreOutputs
    cluster: ClusterOutputs


class DistillationJob(pulumi.ComponentResource):
    """The job for one plan: its create ends when the model is trained (locally the job runs
    in the provider; in the cloud the provider waits for the training node's completion marker)."""

    def __init__(
        self, name: str, args: DistillationJobArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(TYPE, name, None, opts)
        self.outputs: JobOutputs = args.backend.distillation_job(
            self, name, args.plan, args.settings, args.store, args.cluster
        )
        self.artifact_uri: pulumi.Output[str] = pulumi.Output.from_input(self.outputs.artifact_uri)
        self.manifest_hash: pulumi.Output[str] = pulumi.Output.from_input(
            self.outputs.manifest_hash
        )
        self.metrics: pulumi.Output[dict] = pulumi.Output.from_input(self.outputs.metrics)
        self.register_outputs(
            {
                "artifactUri": self.artifact_uri,
                "manifestHash": self.manifest_hash,
                "metrics": self.metrics,
            }
        )
