"""The ``local`` target: train and serve on this machine with Python dynamic providers.

Artifact store = a folder (``STRATOS_RUNS_DIR``, default ``runs/<stack>``); cluster =
this machine (nothing to provision, so no child resource); job = a
``LocalDistillationJob``; endpoint = a ``LocalServer`` bound to 127.0.0.1.
"""

from __future__ import annotations

import pulumi

from infra.backends.base import (
    ClusterOutputs,
    EndpointOutputs,
    JobOutputs,
    StoreOutputs,
    child_urn,
    job_id,
)
from infra.components.distillation_job import TYPE as JOB_TYPE
from infra.config import Settings
from infra.providers.job import LocalDistillationJob
from infra.providers.server import LocalServer
from infra.providers.store import LocalDirectory
from stratos.planner.plan import Plan

HOST = "127.0.0.1"
SERVER_READY_S = 300


class LocalBackend:
    """This machine as the target (see module docstring)."""

    name = "local"

    def artifact_store(
        self, parent: pulumi.Resource, name: str, plan: Plan, settings: Settings
    ) -> StoreOutputs:
        folder = LocalDirectory(
            f"{name}-dir", str(settings.runs_dir), opts=pulumi.ResourceOptions(parent=parent)
        )
        return StoreOutputs(uri=folder.uri, resources={"dir": folder})

    def training_cluster(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
    ) -> ClusterOutputs:
        return ClusterOutputs(host="localhost", instance_type=plan.train.instance_type)

    def distillation_job(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
        cluster: ClusterOutputs,
    ) -> JobOutputs:
        jid = job_id(plan, settings)
        timeout = plan.job_timeout_s()
        props = {
            "jobId": jid,
            "planJson": plan.model_dump_json(),
            "requestJson": settings.request.model_dump_json(),
            "runDir": str(settings.runs_dir / f"job-{jid}"),
            "python": settings.python,
            "timeoutSeconds": timeout,
            "estimatedTotalUsd": plan.cost.total_usd,
            "budgetUsd": settings.request.constraints.budget_usd,
            "teacherApiKey": settings.teacher_api_key,
            # Where the provider reports progress; derived, so renames don't replace the job.
            "urn": child_urn(JOB_TYPE, f"{name}-run", LocalDistillationJob),
        }
        deps = list(store.resources.values())
        job = LocalDistillationJob(
            f"{name}-run",
            props,
            opts=pulumi.ResourceOptions(
                parent=parent,
                depends_on=deps,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{timeout}s", update=f"{timeout}s"),
            ),
        )
        return JobOutputs(
            artifact_uri=job.artifactPath.apply(lambda p: f"file://{p}" if p else p),
            manifest_hash=job.manifestHash,
            metrics=job.metrics,
            resources={"job": job},
        )

    def serving_endpoint(
        self,
        parent: pulumi.Resource,
        name: str,
        plan: Plan,
        settings: Settings,
        store: StoreOutputs,
        job: JobOutputs,
        token: pulumi.Input[str],
    ) -> EndpointOutputs:
        run = job.resources["job"]
        model_name = plan.served_model_name
        server = LocalServer(
            f"{name}-server",
            {
                "artifactPath": run.artifactPath,
                "manifestHash": job.manifest_hash,
                "host": HOST,
                "port": settings.serving_port,
                "modelName": model_name,
                "token": token,
                "stateDir": str(settings.runs_dir / f"endpoint-{settings.serving_port}"),
                "python": settings.python,
                "readyTimeoutSeconds": SERVER_READY_S,
            },
            opts=pulumi.ResourceOptions(parent=parent),
        )
        return EndpointOutputs(url=server.url, model_name=model_name, resources={"server": server})
