"""The cloud path under the real Pulumi engine, without a cloud.

The program's own wiring (``infra.program.build``) runs with the test-only backend of
``tests/helpers/sandbox_backend.py``: the bucket is on moto's S3 server on localhost,
the training "instance" is the real rendered node script run by bash (its store
commands are the real ``aws s3`` CLI against that server), and ``pulumi up`` waits in
the real ``CloudDistillationJob`` provider, reading the node's markers with boto3.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from helpers.node_sandbox import make_sandbox

ROOT = Path(__file__).resolve().parents[2]
PULUMI_BIN = ROOT / ".tools" / "pulumi" / "bin"
STACK = "cloudsandbox"
PROGRAM = f'''import sys
sys.path.insert(0, {str(ROOT)!r})
from infra.config import load_settings
from infra.program import build
from tests.helpers.cloud_plans import aws_plan
from tests.helpers.sandbox_backend import SandboxBackend

backend = SandboxBackend()
build(load_settings(), aws_plan(spot=False), backends=(backend, backend))
'''
CONFIG = {
    "stratos:target": "aws",
    "stratos:task": "mahjong",
    "stratos:constraints": {"budget_usd": 40, "serving_hours": 24},
}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class CloudSandbox:
    """A throwaway project whose program is the sandbox wiring, with its own state and S3 server."""

    def __init__(self, tmp: Path, endpoint: str, node_env: dict[str, str]) -> None:
        self.sandbox = make_sandbox(tmp / "sandbox")
        self.dir = tmp / "project"
        (self.dir / "program").mkdir(parents=True)
        (self.dir / ".venv").symlink_to(ROOT / ".venv")
        (self.dir / "program" / "__main__.py").write_text(PROGRAM)
        (self.dir / "Pulumi.yaml").write_text(yaml.safe_dump({
            "name": "stratos", "main": "program/",
            "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}},
        }))
        (self.dir / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": CONFIG}))
        (tmp / "state").mkdir()
        aws = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **aws,
            "PATH": os.pathsep.join([str(PULUMI_BIN), str(ROOT / ".venv" / "bin"), os.environ.get("PATH", "")]),
            "PULUMI_HOME": str(tmp / "pulumi-home"),
            "PULUMI_BACKEND_URL": (tmp / "state").as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": "stratos-test",
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "1",
            "SANDBOX_DIR": str(self.sandbox),
            "SANDBOX_NODE_ENV": json.dumps({"STRATOS_TEACHER_PORT": str(_free_port()), **node_env}),
        }
        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")
        self.pulumi("stack", "init", STACK, "--secrets-provider", "passphrase")

    def command(self, *args: str) -> list[str]:
        cmd = ["pulumi", *args, "--non-interactive", "--color", "never"]
        return cmd + (["--stack", STACK] if args[0] != "stack" or args[1] in ("output", "export") else [])

    def pulumi(self, *args: str, check: bool = True, timeout: float = 400) -> subprocess.CompletedProcess:
        out = subprocess.run(self.command(*args), cwd=self.dir, env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    def outputs(self) -> dict[str, Any]:
        return json.loads(self.pulumi("stack", "output", "--json", "--show-secrets").stdout)

    def nodes_started(self) -> list[str]:
        log = self.sandbox / "nodes.log"
        return log.read_text().split() if log.exists() else []

    def objects(self) -> dict[str, bytes]:
        out = {}
        for b in self.s3.list_buckets().get("Buckets", []):
            for o in self.s3.list_objects_v2(Bucket=b["Name"]).get("Contents", []):
                out[f"{b['Name']}/{o['Key']}"] = self.s3.get_object(Bucket=b["Name"], Key=o["Key"])["Body"].read()
        return out

    def destroy_leaves_nothing(self) -> None:
        self.pulumi("destroy", "--yes", "--skip-preview")
        assert self.s3.list_buckets().get("Buckets", []) == [], "the bucket and its objects are gone"
        assert not list(self.sandbox.glob("i-local*")), "every node's home is removed"
        for node in self.nodes_started():
            assert subprocess.run(["pgrep", "-f", node], capture_output=True).returncode != 0, f"{node} still runs"
        assert json.loads(self.pulumi("stack", "export").stdout)["deployment"].get("resources") in (None, [])


#: Training lasts 15 s, longer than the provider's 10 s poll, so some poll lands in it whatever the
#: machine's speed (with 5 s a quiet host could finish between two polls and relay no train line).
FAST_NODE = {"STUB_STEPS": "15", "STUB_STEP_SECONDS": "1", "STUB_ACCURACY": "0.77"}


@pytest.mark.engine
@pytest.mark.slow
def test_up_waits_for_the_node_relays_progress_ends_with_its_accuracy_and_destroy_leaves_nothing(
    tmp_path: Path, s3_endpoint: str,
) -> None:
    box = CloudSandbox(tmp_path, s3_endpoint, FAST_NODE)
    up = box.pulumi("up", "--yes", "--skip-preview")
    (node,) = box.nodes_started()
    # The node's progress reached the resource's row (kept lines on each phase change).
    assert f"[stratos node {node}] train" in up.stdout, up.stdout
    out = box.outputs()
    assert out["accuracy"] == pytest.approx(0.77), "the accuracy of the node's report"
    objects = box.objects()
    (manifest_key,) = [k for k in objects if k.endswith("/artifact/manifest.json")]
    assert out["manifestHash"] == hashlib.sha256(objects[manifest_key]).hexdigest()
    assert out["artifact"] == "s3://" + manifest_key.rsplit("/", 1)[0]
    assert "samples" not in out["metrics"], "long lists stay out of the stack state"
    # A second up with nothing changed changes nothing and starts no node.
    box.pulumi("preview", "--expect-no-changes")
    again = box.pulumi("up", "--yes", "--skip-preview")
    assert box.nodes_started() == [node] and "create" not in again.stdout.split("Resources:")[-1]
    box.destroy_leaves_nothing()


@pytest.mark.engine
@pytest.mark.slow
def test_a_failing_node_fails_up_with_its_own_error(tmp_path: Path, s3_endpoint: str) -> None:
    box = CloudSandbox(tmp_path, s3_endpoint, {**FAST_NODE, "STUB_TRAIN_FAIL": "1"})
    up = box.pulumi("up", "--yes", "--skip-preview", check=False)
    assert up.returncode != 0
    text = up.stdout + up.stderr
    assert "the training node failed" in text and "NCCL error: unhandled system error" in text, text
    assert "pulumi up --replace" in text and "trainer-instance" in text
    box.destroy_leaves_nothing()


@pytest.mark.engine
@pytest.mark.slow
def test_an_interrupted_up_resumes_waiting_on_the_same_node(tmp_path: Path, s3_endpoint: str) -> None:
    box = CloudSandbox(tmp_path, s3_endpoint, {**FAST_NODE, "STUB_STEPS": "25"})
    first = subprocess.Popen(box.command("up", "--yes", "--skip-preview"), cwd=box.dir, env=box.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while not any(k.endswith("/progress.json") for k in box.objects()):
        assert time.monotonic() < deadline and first.poll() is None, "the node never reported progress"
        time.sleep(1)
    os.killpg(first.pid, signal.SIGKILL)  # the user's terminal dies mid-wait
    first.wait()
    providers = f"{box.dir}/.venv/bin/python -u -m pulumi.dynamic"
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", providers], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the killed CLI's provider process stayed behind"
        time.sleep(1)
    subprocess.run([sys.executable, "-m", "infra.recover", "--stack", STACK, "--cwd", str(box.dir)],
                   cwd=ROOT, env=box.env, check=True, capture_output=True, timeout=300)
    box.pulumi("up", "--yes", "--skip-preview")
    assert len(box.nodes_started()) == 1, "no second training node"
    assert box.outputs()["accuracy"] == pytest.approx(0.77)
    box.destroy_leaves_nothing()
