"""The local dynamic providers called directly (no CLI): what their CRUD does on this machine.

The engine tests drive the same code through ``pulumi``; these pin the parts a
user can't easily see from there: delete never signals a process that is not
ours, a busy port is refused with a fix, a job deletes only its own folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from infra.providers import procs
from infra.providers.job import MARKER, LocalDistillationJobProvider
from infra.providers.server import LocalServerProvider


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_props(model: Path, state: Path, port: int) -> dict:
    return {
        "artifactPath": str(model),
        "manifestHash": "h",
        "host": "127.0.0.1",
        "port": float(port),  # the engine sends numbers as floats
        "modelName": "stratos-test",
        "token": "t0ken-for-tests-0123456789abcdef0123",
        "stateDir": str(state),
        "python": sys.executable,
        "readyTimeoutSeconds": 120,
    }


@pytest.mark.slow
def test_server_create_serves_with_token_and_delete_frees_everything(tmp_path: Path) -> None:
    from helpers.tiny_model import make_tiny_model_dir
    from openai import AuthenticationError, OpenAI

    model = make_tiny_model_dir(tmp_path / "model")
    port = _free_port()
    props = _server_props(model, tmp_path / "endpoint", port)
    provider = LocalServerProvider()
    created = provider.create(props)
    outs = created.outs
    rec = procs.ProcessRecord(
        pid=outs["pid"], start_time=outs["startTime"], cmdline=outs["cmdline"]
    )
    try:
        assert outs["url"] == f"http://127.0.0.1:{port}/v1"
        assert procs.is_ours(rec)
        assert (
            tmp_path / "endpoint" / "token"
        ).stat().st_mode & 0o077 == 0  # token file is private
        client = OpenAI(base_url=outs["url"], api_key=props["token"])
        assert [m.id for m in client.models.list().data] == ["stratos-test"]
        with pytest.raises(AuthenticationError):
            OpenAI(base_url=outs["url"], api_key="wrong").models.list()
        # Same inputs and a live server: no change. A new artifact: replace, old one first.
        assert provider.diff(created.id, outs, props).changes is False
        d = provider.diff(created.id, outs, {**props, "manifestHash": "other"})
        assert d.replaces == ["manifestHash"] and d.delete_before_replace
    finally:
        provider.delete(created.id, outs)
    assert not procs.is_ours(rec)
    assert procs.port_free("127.0.0.1", port)
    assert not (tmp_path / "endpoint").exists()
    assert model.exists()  # the artifact belongs to the job, not the server


def test_server_refuses_a_busy_port_naming_the_fix(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=rf"{port} is already in use.*serving_port"):
            LocalServerProvider().create(_server_props(tmp_path, tmp_path / "endpoint", port))


def test_delete_never_signals_a_process_that_is_not_ours(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = procs.record_of(stranger.pid)
        assert live is not None
        # Same pid, different start time: what a reused pid looks like.
        props = {
            **_server_props(tmp_path, tmp_path / "endpoint", _free_port()),
            "pid": stranger.pid,
            "startTime": live.start_time + 1,
            "cmdline": live.cmdline,
        }
        LocalServerProvider().delete("x", props)
        assert stranger.poll() is None, "a process that is not ours was killed"
        # Different command line, same start time: also not ours.
        assert procs.stop(procs.ProcessRecord(stranger.pid, live.start_time, ["other"])) is False
        assert stranger.poll() is None
        # The genuine record: stopped.
        assert procs.stop(live, grace=5)
        assert stranger.wait(5) is not None
    finally:
        if stranger.poll() is None:
            stranger.kill()


def test_server_diff_restarts_a_dead_server(tmp_path: Path) -> None:
    props = _server_props(tmp_path, tmp_path / "endpoint", _free_port())
    olds = {**props, "pid": 2**22 - 3, "startTime": 1, "cmdline": ["gone"]}
    d = LocalServerProvider().diff("x", olds, props)
    assert d.changes and d.replaces == ["pid"]


def _job_props(runs: Path, job_id: str = "abc123") -> dict:
    return {
        "jobId": job_id,
        "planJson": json.dumps({"task": "mahjong"}),
        "requestJson": json.dumps({"target": "local"}),
        "runDir": str(runs / f"job-{job_id}"),
        "python": sys.executable,
        "timeoutSeconds": 60.0,
        "estimatedTotalUsd": 0.0,
        "budgetUsd": 5.0,
    }


def test_job_delete_removes_its_run_folder_and_nothing_else(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    props = _job_props(runs)
    run = Path(props["runDir"])
    (run / "out" / "artifact").mkdir(parents=True)
    (run / "out" / "artifact" / "model.safetensors").write_bytes(b"x")
    (run / MARKER).write_text(props["jobId"])
    neighbour = runs / "keep.txt"
    neighbour.write_text("user data")
    foreign = Path(_job_props(runs, "other")["runDir"])
    foreign.mkdir()
    (foreign / MARKER).write_text("someone-else")

    LocalDistillationJobProvider().delete(props["jobId"], props)
    assert not run.exists()
    assert neighbour.read_text() == "user data"
    # A folder whose marker names another job is left alone.
    LocalDistillationJobProvider().delete("other", {**_job_props(runs, "other"), "jobId": "other"})
    assert foreign.exists()


def test_job_diff_replaces_on_plan_or_request_change_only(tmp_path: Path) -> None:
    props = _job_props(tmp_path)
    p = LocalDistillationJobProvider()
    assert p.diff("x", props, props).changes is False
    assert p.diff("x", props, {**props, "jobId": "other"}).replaces == ["jobId"]  # what the job computes changed
    moved = p.diff("x", props, {**props, "planJson": "{}"})  # the same job id: only predictions moved
    assert moved.changes and not moved.replaces
    assert p.diff("x", props, {**props, "requestJson": "{}"}).replaces == ["requestJson"]
    d = p.diff("x", props, {**props, "timeoutSeconds": 120.0})
    assert d.changes and not d.replaces


def test_job_reports_a_failed_run_with_its_output(tmp_path: Path) -> None:
    """A job that exits without an artifact fails the create with the log tail and how to resume."""
    props = {**_job_props(tmp_path), "python": str(tmp_path / "fake-python")}
    fake = Path(props["python"])
    fake.write_text("#!/bin/sh\necho 'boom: no teacher' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(
        RuntimeError, match=r"(?s)without a verified artifact.*boom: no teacher.*resumes"
    ):
        LocalDistillationJobProvider().create(props)


def test_recover_removes_only_dead_locks_of_this_host(tmp_path: Path) -> None:
    import socket as _socket

    from infra.recover import clear_stale_locks

    lock_dir = tmp_path / ".pulumi" / "locks" / "organization" / "stratos" / "dev"
    lock_dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = _socket.gethostname()
    locks = {
        "dead": {"pid": dead.pid, "hostname": here},
        "alive": {"pid": os.getpid(), "hostname": here},
        "elsewhere": {"pid": dead.pid, "hostname": here + "-other"},
    }
    for name, body in locks.items():
        (lock_dir / f"{name}.json").write_text(json.dumps(body))
    (lock_dir / "dead.json.attrs").write_text("{}")
    removed = clear_stale_locks(tmp_path, "dev")
    assert [p.name for p in removed] == ["dead.json"]
    assert sorted(p.name for p in lock_dir.iterdir()) == ["alive.json", "elsewhere.json"]
