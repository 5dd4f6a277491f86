"""Node bootstrap faults: logs readable by root only, a serving node that cannot serve powers
off for good instead of waiting again after every restart (the GPU would bill forever)."""

from __future__ import annotations

import os
import time

from helpers.cloud_plans import aws_plan, gcp_plan
from helpers.node_sandbox import put_plan
from test_bootstrap import AWS_NODE, GCP_NODE, _run, _teacher_env, sandbox  # noqa: F401

from infra.bootstrap import render_serving, render_training


def test_node_log_is_created_private_whatever_the_umask(sandbox) -> None:  # noqa: F811
    put_plan(sandbox, AWS_NODE.store_uri, aws_plan())
    old = os.umask(0o022)
    try:
        (sandbox / "serve.log").write_text("from an older boot\n")
        (sandbox / "serve.log").chmod(0o644)
        assert _run(sandbox, render_training(aws_plan(), AWS_NODE), "train", **_teacher_env()).returncode == 0
        _run(sandbox, render_serving(gcp_plan(), GCP_NODE), "serve", STRATOS_WAIT_SECONDS="0")
    finally:
        os.umask(old)
    for log in ("train.log", "serve.log"):
        assert (sandbox / log).stat().st_mode & 0o077 == 0, f"{log} is readable by others"


def test_the_wait_deadline_survives_a_restart(sandbox) -> None:  # noqa: F811
    home = sandbox / "home-serve"
    home.mkdir()
    (home / "wait-deadline").write_text(str(int(time.time()) - 1))  # set at the first boot, now past
    t0 = time.monotonic()
    res = _run(sandbox, render_serving(gcp_plan(), GCP_NODE), "serve", STRATOS_WAIT_SECONDS="600")
    assert res.returncode == 75 and "giving up and powering off" in res.stdout
    assert time.monotonic() - t0 < 30, "the restarted node waited again from scratch"
    assert (sandbox / "serve-powered-off").exists() and (home / "GAVE_UP").exists()


def test_a_node_that_gave_up_powers_off_again_at_once(sandbox) -> None:  # noqa: F811
    script = render_serving(aws_plan(), AWS_NODE)
    assert _run(sandbox, script, "serve", STRATOS_WAIT_SECONDS="1").returncode == 75
    (sandbox / "serve-powered-off").unlink()
    # Someone starts the stopped node: no new wait, straight back off.
    (sandbox / "home-serve" / "wait-deadline").unlink()
    res = _run(sandbox, script, "serve", STRATOS_WAIT_SECONDS="600")
    assert res.returncode == 75 and "gave up before" in res.stdout
    assert (sandbox / "serve-powered-off").exists()


def test_the_unit_never_restarts_a_deliberate_stop_and_powers_off_a_crash_loop() -> None:
    script = render_serving(aws_plan(), AWS_NODE)
    unit = script[script.index("[Unit]"):script.index("UNIT\n", script.index("[Unit]"))]
    assert "RestartPreventExitStatus=$EXIT_GAVE_UP" in unit and "EXIT_GAVE_UP=75" in script
    assert "StartLimitBurst=5" in unit and "StartLimitAction=poweroff" in unit
