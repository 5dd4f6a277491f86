"""Faults in the local providers, called directly (no CLI): what a detached process inherits,
what an interrupted create leaves and who finds it, how a damaged artifact is repaired.

Fake interpreters (small shell scripts passed as ``python``) stand in for the job and
the server, so each case takes a second; ``test_local_stack_faults.py`` replays the
same faults under the real engine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.providers import leftovers, procs
from infra.providers.job import MARKER as JOB_MARKER
from infra.providers.job import PID_FILE as JOB_PID
from infra.providers.job import LocalDistillationJobProvider
from infra.providers.server import PID_FILE as SERVER_PID
from infra.providers.server import LocalServerProvider
from infra.providers.store import LocalDirectoryProvider

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "PULUMI_CONFIG_PASSPHRASE": "hunter2-passphrase",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-xyz",
    "GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json",
    "OPENAI_API_KEY": "sk-not-for-the-job",
    "HF_TOKEN": "hf_not_for_the_server",
}


def _fake(path: Path, body: str) -> str:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return str(path)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _job_props(runs: Path, python: str, job_id: str = "abc123") -> dict:
    return {
        "jobId": job_id,
        "planJson": json.dumps({"task": "mahjong"}),
        "requestJson": json.dumps({"target": "local"}),
        "runDir": str(runs / f"job-{job_id}"),
        "python": python,
        "timeoutSeconds": 60.0,
        "estimatedTotalUsd": 0.0,
        "budgetUsd": 5.0,
    }


def _server_props(state: Path, python: str, port: int, ready_s: float = 60) -> dict:
    return {
        "artifactPath": str(state.parent / "model"),
        "manifestHash": "h",
        "host": "127.0.0.1",
        "port": float(port),
        "modelName": "stratos-test",
        "token": "t0ken-for-tests-0123456789abcdef0123",
        "stateDir": str(state),
        "python": python,
        "readyTimeoutSeconds": ready_s,
    }


#: A fake `python -m stratos.cli distill ... --out OUT ...`: dumps its environment, writes a
#: verified artifact (tiny files + manifest) and a report into OUT, counts its runs.
FAKE_JOB = """
out=""; while [ $# -gt 0 ]; do [ "$1" = --out ] && out="$2"; shift; done
env >"$(dirname "$out")/env.txt"
echo run >>"$(dirname "$out")/runs.txt"
mkdir -p "$out/artifact"
printf 'weights' >"$out/artifact/model.safetensors"
python3 - "$out" <<'PY'
import hashlib, json, pathlib, sys
out = pathlib.Path(sys.argv[1]); art = out / "artifact"
files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in art.iterdir() if p.name != "manifest.json"}
(art / "manifest.json").write_text(json.dumps({"format": "stratos-artifact/1", "files": files}))
(out / "report.json").write_text(json.dumps({"metrics": {"student_accuracy": 0.5}}))
PY
"""


def test_detached_job_gets_only_the_environment_it_needs(tmp_path: Path, monkeypatch) -> None:
    for k, v in {**SECRETS, "HF_HUB_OFFLINE": "1", "STRATOS_CACHE": "/c"}.items():
        monkeypatch.setenv(k, v)
    props = {**_job_props(tmp_path, _fake(tmp_path / "py", FAKE_JOB)), "teacherApiKey": "sk-teacher"}
    LocalDistillationJobProvider().create(props)
    env = dict(
        line.split("=", 1) for line in (Path(props["runDir"]) / "env.txt").read_text().splitlines() if "=" in line
    )
    assert env["STRATOS_TEACHER_API_KEY"] == "sk-teacher"
    assert env["HF_HUB_OFFLINE"] == "1" and env["STRATOS_CACHE"] == "/c" and env["PATH"]
    leaked = {k for k in SECRETS if k in env and k != "HF_TOKEN"}
    assert not leaked, f"the job inherited {leaked}"
    assert "hunter2-passphrase" not in (Path(props["runDir"]) / "env.txt").read_text()


def test_detached_server_gets_only_the_environment_it_needs(tmp_path: Path, monkeypatch) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    dump = tmp_path / "server-env.txt"
    python = _fake(tmp_path / "py", f"env >{dump}\n")
    with pytest.raises(RuntimeError, match="exited before it was ready"):
        LocalServerProvider().create(_server_props(tmp_path / "endpoint", python, _free_port()))
    text = dump.read_text()
    assert not [v for v in SECRETS.values() if v in text], text
    assert "PATH=" in text


def _start_create_and_kill_it(props: dict, record: Path, kind: str) -> None:
    """Run the provider's create in a child process and SIGKILL it once ``record`` exists:
    what a killed ``pulumi up`` does to the provider mid-create."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        f"from infra.providers.{kind} import *;"
        f"{'LocalServerProvider' if kind == 'server' else 'LocalDistillationJobProvider'}().create(json.loads(sys.argv[2]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(ROOT), json.dumps(props)])
    deadline = time.monotonic() + 30
    while not (record.is_file() and procs.ProcessRecord.read(record).start_time > 0):
        assert proc.poll() is None and time.monotonic() < deadline, "the create never recorded its process"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_server_killed_during_its_readiness_wait_is_found_by_the_next_create(tmp_path: Path) -> None:
    port = _free_port()
    # Never healthy: listens on nothing, sleeps (as a server loading a big model would).
    python = _fake(tmp_path / "py", "sleep 300\n")
    state = tmp_path / "endpoint"
    props = _server_props(state, python, port, ready_s=2)
    _start_create_and_kill_it(props, state / SERVER_PID, "server")
    left = procs.ProcessRecord.read(state / SERVER_PID)
    assert procs.is_ours(left), "the detached server outlives the killed provider"
    with pytest.raises(TimeoutError):  # the fake never gets healthy; what matters is the leftover
        LocalServerProvider().create(props)
    assert not procs.is_ours(left), "the next create stops what the interrupted one started"


def test_recover_stops_a_pending_server_and_ledgers_a_pending_job_that_destroy_removes(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    store = LocalDirectoryProvider().create({"path": str(runs)}).outs
    # An interrupted server create: process alive, folder with its marker and record.
    state = runs / "endpoint-8000"
    props = _server_props(state, _fake(tmp_path / "py", "sleep 300\n"), _free_port(), ready_s=60)
    _start_create_and_kill_it(props, state / SERVER_PID, "server")
    server = procs.ProcessRecord.read(state / SERVER_PID)
    assert "stopped the server" in leftovers.settle(leftovers.SERVER_TYPE, props)
    assert not procs.is_ours(server) and not state.exists()
    # An interrupted job create: the job keeps running for the next `up` to attach to.
    job_py = _fake(tmp_path / "job-py", "sleep 300\n")
    jprops = _job_props(runs, job_py)
    _start_create_and_kill_it(jprops, Path(jprops["runDir"]) / JOB_PID, "job")
    job = procs.ProcessRecord.read(Path(jprops["runDir"]) / JOB_PID)
    assert "left the job running" in leftovers.settle(leftovers.JOB_TYPE, jprops)
    assert procs.is_ours(job)
    neighbour = runs / "notes.txt"
    neighbour.write_text("not a run")
    # `pulumi destroy`: the store's delete stops and removes what the ledger lists, nothing else.
    LocalDirectoryProvider().delete(str(runs), store)
    assert not procs.is_ours(job) and not Path(jprops["runDir"]).exists()
    assert neighbour.read_text() == "not a run" and not (runs / leftovers.LEDGER).exists()


def test_ledger_never_touches_a_folder_without_its_marker(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    foreign = runs / "job-foreign"
    foreign.mkdir(parents=True)
    (runs / leftovers.LEDGER).write_text(
        json.dumps([{"dir": str(foreign), "marker": JOB_MARKER, "pid_file": JOB_PID},
                    {"dir": str(tmp_path), "marker": "x", "pid_file": "y"}])
    )
    assert leftovers.sweep(runs) == []
    assert foreign.exists() and tmp_path.exists()


def test_a_damaged_artifact_is_repaired_in_place_not_replaced(tmp_path: Path) -> None:
    """alter -> up -> up: the repair must leave the rebuilt artifact (and no second rebuild)."""
    provider = LocalDistillationJobProvider()
    props = _job_props(tmp_path, _fake(tmp_path / "py", FAKE_JOB))
    outs = provider.create(props).outs
    run = Path(props["runDir"])
    (run / "out" / "artifact" / "model.safetensors").write_text("tampered")
    d = provider.diff("abc123", outs, props)
    assert d.changes and d.replaces == [], "a repair must not be a replacement (its delete removes the folder)"
    repaired = provider.update("abc123", outs, props).outs
    assert (run / "out" / "artifact" / "model.safetensors").read_text() == "weights"
    assert repaired["manifestHash"] == outs["manifestHash"]
    assert provider.diff("abc123", repaired, props).changes is False
    assert (run / "runs.txt").read_text().count("run") == 2
    # A time-budget change alone keeps the artifact without rerunning anything.
    kept = provider.update("abc123", repaired, {**props, "timeoutSeconds": 99.0}).outs
    assert kept["manifestHash"] == outs["manifestHash"]
    assert (run / "runs.txt").read_text().count("run") == 2


def test_child_env_keeps_the_allowlist_and_adds_only_named_secrets() -> None:
    env = {"PATH": "/bin", "LC_ALL": "C", "HF_HOME": "/h", "HF_TOKEN": "x", "PULUMI_ACCESS_TOKEN": "p",
           "AWS_PROFILE": "prod", "STRATOS_RUNS_DIR": "/r", "SHELL": "/bin/zsh"}
    assert procs.child_env({"STRATOS_TEACHER_API_KEY": "k"}, env=env) == {
        "PATH": "/bin", "LC_ALL": "C", "HF_HOME": "/h", "STRATOS_RUNS_DIR": "/r", "STRATOS_TEACHER_API_KEY": "k"
    }
    assert os.environ.get("PATH")  # the default reads our own environment
    assert "PATH" in procs.child_env()
