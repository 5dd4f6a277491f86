"""``ArtifactStore``: where the job's model artifact and data live (dir, S3, GCS)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.backends.base import Backend, StoreOutputs
from infra.config import Settings
from stratos.planner.plan import Plan

TYPE = "stratos:index:ArtifactStore"


@dataclass(frozen=True)
class ArtifactStoreArgs:
    backend: Backend
    plan: Plan
    settings: Settings


class ArtifactStore(pulumi.ComponentResource):
    """The artifact store of one request; ``uri`` is ``file://``, ``s3://`` or ``gs://``."""

    def __init__(
        self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(TYPE, name, None, opts)
        self.outputs: StoreOutputs = args.backend.artifact_store(
            self, name, args.plan, args.settings
        )
        self.uri: pulumi.Output[str] = pulumi.Output.from_input(self.outputs.uri)
        self.register_outputs({"uri": self.uri})
