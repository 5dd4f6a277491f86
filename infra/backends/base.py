"""The backend interface: how one kind of infrastructure (this machine, AWS, GCP)
realises the four Stratos concepts.

Components in ``infra/components/`` own the resource tree (one component per
concept, ``parent=self``); each calls the matching method of the backend chosen
by the stack's ``target``, which creates the children and returns the outputs
the component exposes. ``__main__.py`` never branches on provider names.
Adding a cloud means adding one module here and registering it in ``__init__``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pulumi

from stratos.planner.plan import Plan

if TYPE_CHECKING:
    from infra.config import Settings


def job_id(plan: Plan, settings: Settings) -> str:
    """Deterministic id of a run: same plan and request, same run folder / bucket prefix
    (what makes an interrupted ``up`` resume the same run, and a new plan a new one). A plan whose
    predictions alone moved (a calibration point recorded since) is the same run."""
    body = json.dumps(
        {"plan": plan.identity(), "request": settings.request.model_dump(mode="json")},
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def child_urn(parent_type: str, name: str, cls: type) -> str:
    """The URN a dynamic child of a top-level component gets (``<parent type>$<child type>::name``),
    where a provider reports progress. Built from names rather than ``parent.urn`` (an input
    depending on the parent would be a cycle: the component's outputs wait for its children)."""
    child_type = f"pulumi-python:{cls._resource_type_name}"
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{parent_type}${child_type}::{name}"


@dataclass(frozen=True)
class StoreOutputs:
    """Where artifacts live: ``uri`` is ``file://...``, ``s3://...`` or ``gs://...``."""

    uri: pulumi.Input[str]
    resources: dict[str, pulumi.Resource] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterOutputs:
    """The training server(s): ``host`` is ``localhost`` or an instance's address."""

    host: pulumi.Input[str]
    instance_type: pulumi.Input[str]
    resources: dict[str, pulumi.Resource] = field(default_factory=dict)


@dataclass(frozen=True)
class JobOutputs:
    """The finished distillation job (both targets wait for it)."""

    artifact_uri: pulumi.Input[str]
    manifest_hash: pulumi.Input[str]
    metrics: pulumi.Input[dict[str, Any]]
    resources: dict[str, pulumi.Resource] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointOutputs:
    """The OpenAI-compatible endpoint: ``url`` ends in ``/v1``; the token is a secret.
    A TLS endpoint also gives its certificate (PEM) and that certificate's sha256."""

    url: pulumi.Input[str]
    model_name: pulumi.Input[str]
    resources: dict[str, pulumi.Resource] = field(default_factory=dict)
    certificate: pulumi.Input[str] | None = None
    certificate_sha256: pulumi.Input[str] | None = None


class Backend(Protocol):
    """One module per target: ``local``, ``aws``, ``gcp``. Children get ``parent=parent``
    and names derived from ``name`` (``f"{name}-bucket"``).

    ``settings`` is :class:`infra.config.Settings` (request, secrets, network, paths);
    ``token`` is the endpoint's bearer token, a secret Output. Registered by target
    name in ``infra/backends/__init__.py`` (``REGISTRY``), built with no arguments.
    """

    name: str

    def artifact_store(
        self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings
    ) -> StoreOutputs: ...

    def training_cluster(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
    ) -> ClusterOutputs: ...

    def distillation_job(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
        cluster: ClusterOutputs,
    ) -> JobOutputs: ...

    def serving_endpoint(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
        job: JobOutputs,
        token: pulumi.Input[str],
    ) -> EndpointOutputs: ...
