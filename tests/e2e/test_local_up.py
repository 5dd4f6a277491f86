"""The local stack end to end under the real Pulumi CLI (fast profile, ~1 min of training).

One lifecycle, because every step builds on the previous one's state:
up -> the endpoint answers through the ``openai`` client -> a second up changes
nothing -> a constraint change replaces the job, and that up is killed mid-training
(CLI, provider and job) -> recovery + up resumes from the checkpoint -> destroy
leaves no process, no artifact file and an empty stack.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from test_local_stack import FAST_CONFIG, LocalProject, free_port, needs_engine  # noqa: E402

from infra.providers import procs  # noqa: E402

#: Generous: the job's own time budget is enforced by the provider; this only stops a hung CLI.
UP_TIMEOUT_S = 1800


def _job_dirs(project: LocalProject) -> list[Path]:
    return sorted(project.runs.glob("job-*")) if project.runs.exists() else []


def _wait_for_checkpoint(run_dir: Path, proc: subprocess.Popen, timeout: float) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = [p for p in run_dir.rglob("LATEST")] if run_dir.exists() else []
        if latest:
            return latest[0]
        if proc.poll() is not None:
            raise AssertionError(
                f"pulumi up ended before a checkpoint was written:\n{proc.stdout.read()}"
            )
        time.sleep(0.5)
    raise AssertionError(f"no checkpoint under {run_dir} after {timeout} s")


def _ask(url: str, token: str, model: str) -> str:
    from openai import OpenAI

    from stratos.tasks import get_task

    task = get_task("mahjong")
    hand = task.generate(1, seed=7)[0].question
    client = OpenAI(base_url=url, api_key=token)
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": task.prompt(hand)}],
        max_tokens=32,
        temperature=0,
    )
    return reply.choices[0].message.content or ""


@pytest.mark.e2e
@pytest.mark.engine
@pytest.mark.slow
@needs_engine
def test_local_stack_lifecycle(tmp_path: Path) -> None:
    port = free_port()
    config = {**FAST_CONFIG, "stratos:network": {"serving_port": port}}
    project = LocalProject(tmp_path, "e2e", config)
    timings: dict[str, float] = {}

    # 1. up: plan, distil, evaluate, serve.
    out, timings["up"] = project.timed("up", "--yes", "--skip-preview", timeout=UP_TIMEOUT_S)
    assert "[stratos job" in out.stdout + out.stderr  # the job's progress reached the Pulumi output
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
    assert outs["plan"]["teacher"] and outs["plan"]["student"] and outs["paretoFront"]
    assert len(outs["token"]) >= 32
    assert _ask(outs["endpoint"], outs["token"], outs["modelName"]).strip()
    (first_job,) = _job_dirs(project)
    assert Path(outs["artifact"].removeprefix("file://")).is_relative_to(first_job)
    state = project.pulumi("stack", "export").stdout
    assert outs["token"] not in state  # the token is stored encrypted

    # 2. Same inputs: nothing to do.
    project.pulumi("preview", "--expect-no-changes")
    _, timings["second up (no changes)"] = project.timed("up", "--yes", "--expect-no-changes")

    # 3. A constraint change replaces the job; kill that up mid-training (CLI, provider and job).
    project.write_config(
        {**config, "stratos:constraints": {**FAST_CONFIG["stratos:constraints"], "budget_usd": 6}}
    )
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
    deadline = time.monotonic() + 300
    while len(_job_dirs(project)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    new_job = next(d for d in _job_dirs(project) if d != first_job)
    ckpt = _wait_for_checkpoint(new_job, proc, UP_TIMEOUT_S)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    job_rec = procs.ProcessRecord.from_json((new_job / "job.pid.json").read_text())
    assert procs.stop(job_rec, grace=0)  # the job survived the CLI (own session); kill it too
    step_at_kill = int(ckpt.read_text().strip().split("-")[-1])
    killed_at = time.time()

    # 4. Recover (stale lock, pending create) and up again: resumes from the checkpoint.
    subprocess.run(
        [sys.executable, "-m", "infra.recover", "--stack", project.stack],
        cwd=project.dir,
        env=project.env,
        check=True,
    )
    out, resumed = project.timed("up", "--yes", "--skip-preview", timeout=UP_TIMEOUT_S)
    timings["interrupted up + resumed up"] = time.monotonic() - t0
    assert "resuming from checkpoint" in out.stdout + out.stderr
    events = [json.loads(x) for x in (new_job / "job.log").read_text().splitlines() if x.strip()]
    after = [
        e
        for e in events
        if e.get("time", 0) > killed_at and e.get("phase") == "train" and "step" in e
    ]
    assert after and min(e["step"] for e in after) >= step_at_kill, (
        "training restarted from scratch"
    )
    outs2 = project.outputs()
    assert outs2["manifestHash"] != outs["manifestHash"] or outs2["artifact"] != outs["artifact"]
    assert not first_job.exists()  # the replaced job's artifacts are gone
    assert _ask(outs2["endpoint"], outs2["token"], outs2["modelName"]).strip()
    server = next(r for r in project.resources() if r["type"].endswith("LocalServer"))["outputs"]
    server_rec = procs.ProcessRecord(
        pid=server["pid"], start_time=server["startTime"], cmdline=server["cmdline"]
    )
    assert procs.is_ours(server_rec)

    # 5. destroy: no process, no artifact files, empty stack.
    _, timings["destroy"] = project.timed("destroy", "--yes", "--skip-preview")
    assert not procs.is_ours(server_rec)
    assert procs.port_free("127.0.0.1", port)
    assert not project.runs.exists(), f"left behind: {list(project.runs.rglob('*'))}"
    assert project.resources() == []
    print("local stack timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
