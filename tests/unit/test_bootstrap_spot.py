"""Spot interruption on a training node, in the sandbox: a fake metadata service announces
the reclaim, the watcher SIGTERMs the job, the job checkpoints and exits 143, the run dir is
uploaded, no failure marker is written; AWS nodes leave the stop to AWS (a stop of their own
would disable the persistent spot request's restart), GCP nodes power off."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers.cloud_plans import aws_plan, gcp_plan
from helpers.node_sandbox import put_plan, start_node, stop_node
from test_bootstrap import AWS_NODE, GCP_NODE, _run, _run_dir, _stub, _teacher_env, sandbox  # noqa: F401

from infra.bootstrap import render_training

#: Stand-in for the job (`stratos distill --config PLAN --out RUN ...`, the node's first step):
#: runs "forever"; on SIGTERM writes its checkpoint and exits 143.
JOB_STUB = """#!/bin/bash
run="$5"
mkdir -p "$run"
trap 'printf "step 7" >"$run/checkpoint.txt"; echo stub-got-sigterm >"$SANDBOX/job-signalled"; exit 143' TERM
touch "$SANDBOX/job-started"
while :; do sleep 0.1; done
"""


class FakeMetadata(BaseHTTPRequestHandler):
    """IMDSv2 (token, then spot/instance-action) and GCE (instance/preempted): the notice is on
    once ``announced`` is set."""

    announced = threading.Event()
    asked: list[str] = []

    def do_PUT(self) -> None:  # noqa: N802
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self._send(200 if ok else 400, b"tok-123")

    def do_GET(self) -> None:  # noqa: N802
        self.asked.append(self.path)
        if self.path == "/latest/meta-data/spot/instance-action":
            on = self.announced.is_set() and self.headers.get("X-aws-ec2-metadata-token") == "tok-123"
            self._send(200 if on else 404, b'{"action": "stop", "time": "2026-12-02T20:00:00Z"}')
        elif self.path == "/computeMetadata/v1/instance/preempted" and self.headers.get("Metadata-Flavor") == "Google":
            self._send(200, b"TRUE" if self.announced.is_set() else b"FALSE")
        else:
            self._send(404, b"")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def metadata(sandbox):  # noqa: F811
    """The fake metadata server; the notice comes once the job stand-in runs (before it, a node
    still starting its teacher server, the notice would only kill a job with nothing to save)."""
    FakeMetadata.announced.clear()
    FakeMetadata.asked.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMetadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def announce_once_the_job_runs() -> None:
        deadline = time.monotonic() + 60
        while not (sandbox / "job-started").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        FakeMetadata.announced.set()

    threading.Thread(target=announce_once_the_job_runs, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(("cloud", "plan", "node"), [("aws", aws_plan(), AWS_NODE), ("gcp", gcp_plan(), GCP_NODE)])
def test_notice_checkpoints_uploads_and_is_not_a_failure(sandbox, metadata, cloud, plan, node) -> None:  # noqa: F811
    _stub(sandbox / "bin", "stratos", JOB_STUB)
    put_plan(sandbox, node.store_uri, plan)
    res = _run(sandbox, render_training(plan, node), "train", STRATOS_IMDS_URL=metadata,
               STRATOS_GCE_METADATA_URL=metadata, STRATOS_NOTICE_POLL_SECONDS="1", **_teacher_env())
    assert res.returncode == 143, res.stdout + res.stderr
    assert (sandbox / "job-signalled").exists() and "interruption notice" in res.stdout
    run = _run_dir(sandbox, node.store_uri)
    assert (run / "run" / "checkpoint.txt").read_text() == "step 7", "the checkpoint must reach the bucket"
    assert not (run / "_FAILED.txt").exists(), "a preemption is not a failure"
    powered_off = (sandbox / "train-powered-off").exists()
    assert powered_off == (cloud == "gcp"), "AWS restarts a reclaimed persistent spot node only if it stopped it"


def test_shutdown_sigterm_to_the_script_reaches_the_job_before_the_upload(sandbox) -> None:  # noqa: F811
    """systemd's SIGTERM at shutdown goes to the script; the job must get it and finish its
    checkpoint before the EXIT trap uploads the run dir."""
    import signal

    _stub(sandbox / "bin", "stratos", JOB_STUB)
    put_plan(sandbox, GCP_NODE.store_uri, gcp_plan())
    proc = start_node(sandbox, render_training(gcp_plan(), GCP_NODE), "train",
                      STRATOS_GCE_METADATA_URL="http://127.0.0.1:9", STRATOS_NOTICE_POLL_SECONDS="1", **_teacher_env())
    try:
        deadline = time.monotonic() + 30
        while not (sandbox / "job-started").exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 143
    finally:
        stop_node(proc)
    run = _run_dir(sandbox, GCP_NODE.store_uri)
    assert (run / "run" / "checkpoint.txt").read_text() == "step 7"
    assert not (run / "_FAILED.txt").exists()
