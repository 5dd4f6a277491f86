"""The Stratos program's wiring, as one function: settings + plan -> components -> stack outputs.

``infra/__main__.py`` reads the stack config, plans, and calls :func:`build`; the
Pulumi mock tests call the same function with a hand-made plan, so what they check
is the program itself, not a copy of its wiring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from infra import outputs
from infra.backends import get_backend
from infra.backends.base import Backend
from infra.components import (
    ArtifactStore,
    ArtifactStoreArgs,
    DistillationJob,
    DistillationJobArgs,
    ServingEndpoint,
    ServingEndpointArgs,
    TrainingCluster,
    TrainingClusterArgs,
)
from infra.config import HF_TOKEN, NAMESPACE, TEACHER_API_KEY, Settings
from stratos.exceptions import ConfigError
from stratos.planner.plan import Plan
from stratos.zoo.endpoint import as_endpoint, teacher_model
from stratos.zoo.registry import get_model


@dataclass(frozen=True)
class Deployment:
    """The four components of one stack (what tests inspect)."""

    backend: Backend
    store: ArtifactStore
    cluster: TrainingCluster
    job: DistillationJob
    endpoint: ServingEndpoint


def backends_for(plan: Plan, settings: Settings) -> tuple[Backend, Backend]:
    """(training backend, serving backend): a cloud stack deploys where the plan chose, and
    the planner prices training and serving apart, so they may be different clouds."""
    if settings.target == "local":
        local = get_backend("local")
        return local, local
    train = get_backend(plan.train.cloud)
    serve = train if plan.serve.cloud == plan.train.cloud else get_backend(plan.serve.cloud)
    return train, serve


def check_secrets(plan: Plan, settings: Settings) -> None:
    """A cloud node reads only the stack's secrets, so a plan that needs one that is unset
    fails the preview, naming the key (locally the job also sees this shell's environment)."""
    if settings.target == "local":
        return
    teacher, endpoint = teacher_model(plan.teacher), as_endpoint(plan.teacher)
    # A zoo API teacher always takes a key; an endpoint only when it names one (api_key_env),
    # which on a node can only come from the stack secret (a keyless server needs none).
    needs_key = endpoint.api_key_env is not None if endpoint is not None else teacher.is_api
    if needs_key and settings.teacher_api_key is None:
        raise ConfigError(
            f"the plan's teacher {teacher.id} is an API model that needs a key, and {NAMESPACE}:{TEACHER_API_KEY} "
            f"is not set. Set it with `pulumi config set --secret {NAMESPACE}:{TEACHER_API_KEY} <key>`, or pick a "
            "hub teacher with stratos:teacher."
        )
    gated = [m.id for m in (teacher, get_model(plan.student)) if m.gated]
    if gated and settings.hf_token is None:
        raise ConfigError(
            f"{', '.join(gated)} on the Hugging Face hub is gated, and {NAMESPACE}:{HF_TOKEN} is not set. "
            f"Accept the model's terms on the hub, then `pulumi config set --secret {NAMESPACE}:{HF_TOKEN} <token>`; "
            "or choose an ungated model with stratos:teacher / stratos:student."
        )


def build(
    settings: Settings, plan: Plan, pareto: list[dict[str, Any]] | None = None,
    backends: tuple[Backend, Backend] | None = None,
) -> Deployment:
    """Register store -> cluster -> job -> endpoint for ``plan`` and export the stack outputs.

    ``pareto`` is the planner's front as ``stratos plan --json`` prints it (``paretoFront``);
    ``backends`` (training, serving) replaces the ones the plan names (the real-engine test
    runs the cloud path on this machine with a test-only backend).
    """
    check_secrets(plan, settings)
    backend, serve_backend = backends or backends_for(plan, settings)
    pulumi.log.info(outputs.one_line(plan))
    store = ArtifactStore("artifacts", ArtifactStoreArgs(backend, plan, settings))
    cluster = TrainingCluster("trainer", TrainingClusterArgs(backend, plan, settings, store.outputs))
    job = DistillationJob(
        "distill", DistillationJobArgs(backend, plan, settings, store.outputs, cluster.outputs)
    )
    endpoint = ServingEndpoint(
        "endpoint", ServingEndpointArgs(serve_backend, plan, settings, store.outputs, job.outputs)
    )
    pulumi.export("target", backend.name)
    pulumi.export("plan", outputs.plan_summary(plan))
    pulumi.export("paretoFront", outputs.pareto_top({"pareto": pareto or []}))
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
    return Deployment(backend, store, cluster, job, endpoint)
