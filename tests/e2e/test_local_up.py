"""The local stack end to end under the real Pulumi CLI (fast profile: tiny data, short training).

One lifecycle, because every step builds on the previous one's state, and one
training run, because a run is minutes on this machine:

1. ``pulumi up`` is killed mid-job (CLI, language host and provider, then the job
   itself: the harshest interruption), ``infra.recover`` clears the dead lock and the
   pending create, and the next ``up`` resumes from the checkpoint, not from scratch;
2. the endpoint answers through the ``openai`` client, the outputs are there, the
   token is encrypted in the state;
3. a second ``up`` changes nothing; an artifact altered behind Pulumi's back is
   repaired in place by the next ``up`` (re-exported, not retrained, not deleted);
4. a constraint change makes the engine plan a replacement of the job (and of the
   endpoint serving it) - previewed here, not applied, to stay within the time budget
   (``tests/engine/test_local_stack_replace.py`` applies one, with pre-built artifacts);
5. ``destroy`` leaves no process, no artifact file and an empty stack.
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
from helpers.local_project import FAST_CONFIG, LocalProject, free_port, needs_engine

from infra.providers import procs
from stratos.manifest import manifest_hash, verify_manifest

#: Generous: the job's own time budget is enforced by the provider; this only stops a hung CLI.
UP_TIMEOUT_S = 1800


def _job_dirs(project: LocalProject) -> list[Path]:
    return sorted(project.runs.glob("job-*")) if project.runs.exists() else []


def _freeze_at_checkpoint(project: LocalProject, proc: subprocess.Popen, timeout: float) -> Path:
    """Wait for the job's first checkpoint, then SIGSTOP the job where it stands.

    The fast profile's job finishes seconds after its first checkpoint on a quiet host;
    frozen, it cannot complete while the CLI is killed and its plugins are checked.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = [(d, p) for d in _job_dirs(project) for p in d.rglob("LATEST")]
        if latest:
            run, ckpt = latest[0]
            os.killpg(procs.ProcessRecord.from_json((run / "job.pid.json").read_text()).pid, signal.SIGSTOP)
            return ckpt
        if proc.poll() is not None:
            raise AssertionError(
                f"pulumi up ended before a checkpoint was written:\n{proc.stdout.read()}"
            )
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint under {project.runs} after {timeout} s")


def _ask(url: str, token: str, model: str):
    """One Mahjong question through the openai client; returns the completion."""
    from openai import OpenAI

    from stratos.tasks import get_task

    task = get_task("mahjong")
    hand = task.generate(1, seed=7)[0].question
    client = OpenAI(base_url=url, api_key=token)
    return client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": task.prompt(hand)}],
        max_tokens=32,
        temperature=0,
    )


def _assert_no_plugin_left(project: LocalProject, timeout: float = 10.0) -> None:
    """The engine starts plugins (language host, providers) in their own process groups; ours must exit with the CLI."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for proc_dir in Path("/proc").glob("[0-9]*"):
            try:
                cmd = (proc_dir / "cmdline").read_bytes()
                env = (proc_dir / "environ").read_bytes()
            except OSError:
                continue
            if (b"pulumi.dynamic" in cmd or b"pulumi-language-python" in cmd) and f"STRATOS_RUNS_DIR={project.runs}".encode() in env:
                left.append(int(proc_dir.name))
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"plugin process(es) {left} outlived the killed CLI")
        time.sleep(0.2)


def _events(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "job.log").read_text().splitlines() if x.strip()]


@pytest.mark.e2e
@pytest.mark.engine
@pytest.mark.slow
@needs_engine
def test_local_stack_lifecycle(tmp_path: Path) -> None:
    port = free_port()
    config = {**FAST_CONFIG, "stratos:network": {"serving_port": port}}
    project = LocalProject(tmp_path, "e2e", config)
    timings: dict[str, float] = {}
    try:
        _lifecycle(project, config, port, timings)
    finally:
        # Whatever happened, leave nothing running.
        if project.resources():
            project.pulumi("destroy", "--yes", "--skip-preview", check=False)
        for pid_file in project.runs.glob("job-*/job.pid.json") if project.runs.exists() else []:
            procs.stop(procs.ProcessRecord.from_json(pid_file.read_text()), grace=1)
        print("local stack timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))


def _lifecycle(project: LocalProject, config: dict, port: int, timings: dict[str, float]) -> None:
    # 1. up, killed mid-job (whole process group: CLI, language host, provider), then the job.
    cmd = ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive", "--stack", project.stack]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=project.dir,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ckpt = _freeze_at_checkpoint(project, proc, UP_TIMEOUT_S)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _assert_no_plugin_left(project)
    (run,) = _job_dirs(project)
    rec = procs.ProcessRecord.from_json((run / "job.pid.json").read_text())
    assert procs.is_ours(rec), "the job should survive the CLI being killed (own session)"
    assert procs.stop(rec, grace=0)
    step_at_kill = int(ckpt.read_text().strip().split("-")[-1])
    killed_at = time.time()

    subprocess.run(
        [sys.executable, "-m", "infra.recover", "--stack", project.stack],
        cwd=project.dir,
        env=project.env,
        check=True,
    )
    out, _ = project.timed("up", "--yes", "--skip-preview", timeout=UP_TIMEOUT_S)
    timings["up (killed, recovered, resumed)"] = time.monotonic() - t0
    text = out.stdout + out.stderr
    assert "resuming from checkpoint" in text and "[stratos job" in text
    after = [
        e
        for e in _events(run)
        if e.get("time", 0) > killed_at and e.get("phase") == "train" and "step" in e
    ]
    assert all(e["step"] >= step_at_kill for e in after), (
        f"training restarted from scratch: {after[:3]}"
    )
    assert _job_dirs(project) == [run]  # same inputs, same run folder

    # 2. The endpoint answers; the outputs are there; the token is encrypted in the state.
    outs = project.outputs()
    assert outs["endpoint"] == f"http://127.0.0.1:{port}/v1"
    assert 0.0 <= outs["accuracy"] <= 1.0
    assert set(outs["estimatedCost"]) >= {
        "synthesis_usd",
        "training_usd",
        "serving_usd",
        "total_usd",
        "currency",
    }
    assert (
        outs["plan"]["teacher"]
        and outs["plan"]["student"]
        and outs["plan"]["reasons"]
        and outs["paretoFront"]
    )
    assert Path(outs["artifact"].removeprefix("file://")).is_relative_to(run)
    reply = _ask(outs["endpoint"], outs["token"], outs["modelName"])
    assert reply.model == outs["modelName"] and reply.choices[0].finish_reason in ("stop", "length")
    assert (
        len(outs["token"]) >= 32 and outs["token"] not in project.pulumi("stack", "export").stdout
    )

    # 3. Same inputs: nothing to do.
    _, timings["second up (no changes)"] = project.timed("up", "--yes", "--expect-no-changes")

    # 3b. The artifact altered behind Pulumi's back: `up` repairs it in place (re-export from
    # the run's checkpoints, no retraining) and the `up` after it has nothing to do.
    artifact = Path(outs["artifact"].removeprefix("file://"))
    next(artifact.glob("*.safetensors")).write_bytes(b"tampered")
    out, timings["up (repair)"] = project.timed("up", "--yes", "--skip-preview")
    assert "re-exporting" in out.stdout + out.stderr
    verify_manifest(artifact)
    project.pulumi("up", "--yes", "--expect-no-changes")
    assert project.outputs()["manifestHash"] == manifest_hash(artifact)

    # 4. A constraint change: the engine plans to replace the job and the endpoint on it.
    project.write_config(
        {**config, "stratos:constraints": {**FAST_CONFIG["stratos:constraints"], "budget_usd": 6}}
    )
    out = project.pulumi("preview", "--diff")
    assert "+-pulumi-python:dynamic/stratos:LocalDistillationJob" in out.stdout.replace(" ", "")
    assert "+-pulumi-python:dynamic/stratos:LocalServer" in out.stdout.replace(" ", "")
    assert project.pulumi("preview", "--expect-no-changes", check=False).returncode != 0
    project.write_config(config)

    # 5. destroy: no process, no artifact files, empty stack.
    server = next(r for r in project.resources() if r["type"].endswith("LocalServer"))["outputs"]
    server_rec = procs.ProcessRecord(
        pid=server["pid"], start_time=server["startTime"], cmdline=server["cmdline"]
    )
    assert procs.is_ours(server_rec)
    _, timings["destroy"] = project.timed("destroy", "--yes", "--skip-preview")
    assert not procs.is_ours(server_rec)
    assert procs.port_free("127.0.0.1", port)
    assert not project.runs.exists(), f"left behind: {list(project.runs.rglob('*'))}"
    assert project.resources() == []
