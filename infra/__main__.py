"""The Stratos Pulumi program: stack config -> request -> plan -> the target's backend.

``pulumi preview`` runs everything up to registering resources, so it prints the
plan and its estimated cost without running a job (the providers' ``create`` is
never called in a preview). This module only wires; config is read in
``infra/config.py``, resources live in ``infra/components`` and the backends.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The engine runs this file with infra/ as the program dir; the package imports need the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pulumi  # noqa: E402

from infra import outputs  # noqa: E402
from infra.backends import get_backend  # noqa: E402
from infra.components import (  # noqa: E402
    ArtifactStore,
    ArtifactStoreArgs,
    DistillationJob,
    DistillationJobArgs,
    ServingEndpoint,
    ServingEndpointArgs,
    TrainingCluster,
    TrainingClusterArgs,
)
from infra.config import load_settings  # noqa: E402
from stratos.exceptions import StratosError  # noqa: E402
from stratos.planner import make_plan  # noqa: E402

try:
    settings = load_settings()
    result = make_plan(settings.request)
    # A cloud stack deploys where the plan chose: stratos:clouds may allow several.
    backend = get_backend(result.chosen.train.cloud if settings.target != "local" else "local")
except StratosError as exc:
    # A RunError is reported as a plain error message, without a Python traceback.
    raise pulumi.RunError(str(exc)) from None

plan = result.chosen
pulumi.log.info(outputs.one_line(plan))

store = ArtifactStore("artifacts", ArtifactStoreArgs(backend, plan, settings))
cluster = TrainingCluster("trainer", TrainingClusterArgs(backend, plan, settings, store.outputs))
job = DistillationJob(
    "distill", DistillationJobArgs(backend, plan, settings, store.outputs, cluster.outputs)
)
# The planner prices training and serving apart, so a multicloud plan may serve elsewhere.
serve_backend = backend if settings.target == "local" else get_backend(plan.serve.cloud)
endpoint = ServingEndpoint(
    "endpoint", ServingEndpointArgs(serve_backend, plan, settings, store.outputs, job.outputs)
)

pulumi.export("target", backend.name)
pulumi.export("plan", outputs.plan_summary(plan))
pulumi.export("paretoFront", outputs.pareto_top(result.to_json()))
pulumi.export("estimatedCost", outputs.estimated_cost(plan))
pulumi.export("artifactStore", store.uri)
pulumi.export("artifact", job.artifact_uri)
pulumi.export("manifestHash", job.manifest_hash)
pulumi.export("metrics", job.metrics)
pulumi.export("accuracy", job.metrics.apply(outputs.accuracy_of))
pulumi.export("endpoint", endpoint.url)
pulumi.export("modelName", endpoint.model_name)
pulumi.export("token", endpoint.token)
# Cloud endpoints serve TLS: clients pin this certificate (or its fingerprint); null locally.
pulumi.export("endpointCertificate", endpoint.certificate)
pulumi.export("endpointCertificateSha256", endpoint.certificate_sha256)
