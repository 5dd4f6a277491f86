"""``pulumi up`` killed mid-create, under the real CLI: nothing it started is lost track of.

* killed during the server's readiness wait: the server's record is on disk before the
  wait, ``infra.recover`` stops it, and the next ``up`` binds the same port;
* killed while the job runs, then ``recover`` + ``destroy`` (not ``up``): the job the
  pending create started is stopped and its run folder removed.

The job is pre-filled with a finished tiny artifact for the first case (it is adopted,
as after an interrupted ``up`` whose job had finished), so only the server starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_local_stack import FAST_CONFIG, LocalProject, free_port, needs_engine
from test_local_stack_replace import _prefill

from infra.providers import procs


def _up_killed_when(project: LocalProject, record: str) -> procs.ProcessRecord:
    """Start ``pulumi up`` and SIGKILL its whole group once a file matching ``record`` under the
    runs folder holds a live process record; return that record."""
    cmd = ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive", "--stack", project.stack]
    proc = subprocess.Popen(
        cmd, cwd=project.dir, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            found = list(project.runs.glob(record)) if project.runs.exists() else []
            rec = procs.ProcessRecord.read(found[0]) if found else None
            if rec is not None and procs.is_ours(rec):
                return rec
            if proc.poll() is not None:
                raise AssertionError(f"pulumi up ended before {record} appeared:\n{proc.stdout.read()}")
            time.sleep(0.1)
        raise AssertionError(f"no {record} after 300 s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _recover(project: LocalProject) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "infra.recover", "--stack", project.stack],
        cwd=project.dir, env=project.env, capture_output=True, text=True, check=True,
    )
    return out.stdout


@pytest.mark.engine
@pytest.mark.slow
@needs_engine
def test_up_killed_during_the_readiness_wait_leaves_no_untracked_server(tmp_path: Path) -> None:
    port = free_port()
    config = {**FAST_CONFIG, "stratos:network": {"serving_port": port}}
    project = LocalProject(tmp_path, "killedserver", config)
    _prefill(project, config, seed=1)
    try:
        server = _up_killed_when(project, "endpoint-*/server.pid.json")
        assert procs.is_ours(server), "the detached server outlives the killed CLI"
        said = _recover(project)
        assert "stopped the server" in said
        assert not procs.is_ours(server) and procs.port_free("127.0.0.1", port)
        project.pulumi("up", "--yes", "--skip-preview")
        outs = project.outputs()
        assert outs["endpoint"] == f"http://127.0.0.1:{port}/v1"
        from openai import OpenAI

        models = OpenAI(base_url=outs["endpoint"], api_key=outs["token"]).models.list()
        assert [m.id for m in models.data] == [outs["modelName"]]
    finally:
        project.pulumi("destroy", "--yes", "--skip-preview", check=False)
    assert procs.port_free("127.0.0.1", port)


@pytest.mark.engine
@pytest.mark.slow
@needs_engine
def test_destroy_after_a_killed_up_stops_the_job_it_started(tmp_path: Path) -> None:
    config = {**FAST_CONFIG, "stratos:network": {"serving_port": free_port()}}
    project = LocalProject(tmp_path, "killedjob", config)
    try:
        job = _up_killed_when(project, "job-*/job.pid.json")
        said = _recover(project)
        assert "left the job running" in said and procs.is_ours(job)
        project.pulumi("destroy", "--yes", "--skip-preview")
        assert not procs.is_ours(job), "destroy left the job a pending create started running"
        assert not project.runs.exists(), f"left behind: {list(project.runs.rglob('*'))[:10]}"
    finally:
        for pid_file in project.runs.glob("job-*/job.pid.json") if project.runs.exists() else []:
            procs.stop_recorded(pid_file, grace=1)
