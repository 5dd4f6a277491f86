"""The four Stratos concepts as Pulumi components (type tokens ``stratos:index:<Name>``).

Each component takes an ``Args`` object, asks the target's backend to create its
children (``parent=self``, names derived from its own) and registers its outputs.
"""

from infra.components.artifact_store import ArtifactStore, ArtifactStoreArgs
from infra.components.distillation_job import DistillationJob, DistillationJobArgs
from infra.components.serving_endpoint import ServingEndpoint, ServingEndpointArgs
from infra.components.training_cluster import TrainingCluster, TrainingClusterArgs

__all__ = [
    "ArtifactStore",
    "ArtifactStoreArgs",
    "DistillationJob",
    "DistillationJobArgs",
    "ServingEndpoint",
    "ServingEndpointArgs",
    "TrainingCluster",
    "TrainingClusterArgs",
]
