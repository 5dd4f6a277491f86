"""A test-only backend: the cloud path on this machine, for the real Pulumi engine.

What it keeps real: the program's wiring (``infra.program.build``), the rendered
training script (``render_training``) run by bash, its ``aws s3`` store commands,
and the ``CloudDistillationJob`` provider reading the markers with boto3. What it
replaces: the bucket is on an S3-compatible server on localhost (moto), the
"instance" is the script started as a detached local process group (``LocalNode``),
and the GPU work inside it is the sandbox's stand-ins (``tests/helpers/node_sandbox.py``).

The program reads its sandbox from the environment the engine passes on:
``SANDBOX_DIR`` (stand-ins, node homes) and ``SANDBOX_NODE_ENV`` (JSON: the node's
extra environment, e.g. the stand-ins' failure switches). The S3 endpoint and keys
come as the usual ``AWS_*`` variables, read by boto3 and the AWS CLI alike.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from infra.backends.base import ClusterOutputs, EndpointOutputs, JobOutputs, StoreOutputs
from infra.backends.cloud import cloud_job, job_prefix, training_script
from infra.providers import procs
from infra.providers.portable import portable

REGION = "us-east-1"
procs.exit_with_parent()  # in the engine's provider process only: gone with a killed CLI


def _s3():
    import boto3

    return boto3.client("s3", region_name=REGION)


class SandboxBucketProvider(ResourceProvider):
    """A bucket on the local S3 server holding the run's plan.json; delete empties and removes it."""

    serialize_as_secret_always = False

    def create(self, props: dict) -> CreateResult:
        s3 = _s3()
        s3.create_bucket(Bucket=props["bucket"])
        s3.put_object(Bucket=props["bucket"], Key=f"{props['prefix']}/plan.json", Body=props["planJson"].encode())
        return CreateResult(id_=props["bucket"], outs=props)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = [k for k in ("bucket", "prefix", "planJson") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def delete(self, _id: str, props: dict) -> None:
        s3 = _s3()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=props["bucket"]):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=props["bucket"], Delete={"Objects": keys})
        s3.delete_bucket(Bucket=props["bucket"])


class SandboxBucket(Resource, module="sandbox", name="Bucket"):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(portable(SandboxBucketProvider), name, props, opts)


class LocalNodeProvider(ResourceProvider):
    """A "training instance": the rendered script run by bash in its own session, as a node
    boots its user-data. Every node started is appended to ``<workDir>/nodes.log``."""

    serialize_as_secret_always = False

    def create(self, props: dict) -> CreateResult:
        node_id = f"i-local{secrets.token_hex(6)}"
        home = Path(props["workDir"]) / node_id
        home.mkdir(parents=True)
        script = home / "train.sh"
        script.write_text(props["script"])
        env = {
            **props["env"], "STRATOS_NODE_ID": node_id, "STRATOS_HOME": str(home / "opt"),
            "STRATOS_LOG": str(home / "train.log"), "STRATOS_SHUTDOWN_CMD": f"touch {home / 'powered-off'}",
        }
        with open(home / "console.log", "w") as console:
            proc = subprocess.Popen(["bash", str(script)], env=env, cwd=home, stdout=console,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        with open(Path(props["workDir"]) / "nodes.log", "a") as f:
            f.write(node_id + "\n")
        return CreateResult(id_=node_id, outs={**props, "nodeId": node_id, "pid": proc.pid, "home": str(home)})

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        changed = olds.get("script") != news.get("script") or olds.get("env") != news.get("env")
        return DiffResult(changes=changed, replaces=["script"] if changed else [], delete_before_replace=True)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        return UpdateResult(outs={**olds, **news})

    def delete(self, _id: str, props: dict) -> None:
        home = Path(props["home"])
        if (home / "train.sh").is_file():  # ours: its session leader is the bash we started
            try:
                os.killpg(int(props["pid"]), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            shutil.rmtree(home, ignore_errors=True)


class LocalNode(Resource, module="sandbox", name="LocalNode"):
    nodeId: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(portable(LocalNodeProvider), name, {**props, "nodeId": None, "pid": None, "home": None}, opts)


def node_env(sandbox: Path) -> dict[str, str]:
    """What a sandbox node runs with: the stand-ins first on PATH, the S3 server's AWS_* variables."""
    keep = ("PATH", "HOME", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        PATH=f"{sandbox / 'bin'}:{env.get('PATH', '')}", PYTHONPATH=str(sandbox / "py"), SANDBOX=str(sandbox),
        STRATOS_POLL_SECONDS="1", STRATOS_PROGRESS_SECONDS="1", STUB_TORCHRUN="1",
        **json.loads(os.environ.get("SANDBOX_NODE_ENV") or "{}"),
    )
    return env


class SandboxBackend:
    """The cloud path's four concepts on this machine (see the module docstring)."""

    name = "aws"

    def __init__(self) -> None:
        self.sandbox = Path(os.environ["SANDBOX_DIR"])

    def artifact_store(self, parent, name, plan, settings) -> StoreOutputs:
        bucket_name, prefix = f"stratos-sandbox-{settings.stack}".lower(), job_prefix(plan, settings)
        bucket = SandboxBucket(f"{name}-bucket", {"bucket": bucket_name, "prefix": prefix, "planJson": plan.model_dump_json()},
                               opts=pulumi.ResourceOptions(parent=parent))
        return StoreOutputs(uri=bucket.id.apply(lambda b: f"s3://{b}/{prefix}"), resources={"bucket": bucket})

    def training_cluster(self, parent, name, plan, settings, store: StoreOutputs) -> ClusterOutputs:
        script = training_script(plan, settings, "aws", store.uri, 0, "", [])
        node = LocalNode(f"{name}-instance", {"script": script, "env": node_env(self.sandbox), "workDir": str(self.sandbox)},
                         opts=pulumi.ResourceOptions(parent=parent, depends_on=list(store.resources.values())))
        return ClusterOutputs(host="127.0.0.1", instance_type=plan.train.instance_type, resources={"instance": node})

    def distillation_job(self, parent, name, plan, settings, store, cluster: ClusterOutputs) -> JobOutputs:
        node = cluster.resources["instance"]
        return cloud_job(parent, name, plan, settings, store, node, node.nodeId, REGION)

    def serving_endpoint(self, parent, name, plan, settings, store, job: JobOutputs, token) -> EndpointOutputs:
        # Serving is not this test's subject; the URL waits for the job like a serving node would.
        url = pulumi.Output.from_input(job.manifest_hash).apply(lambda h: f"http://sandbox.invalid/{h[:8]}/v1")
        return EndpointOutputs(url=url, model_name=plan.served_model_name)
