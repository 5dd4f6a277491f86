"""A constraint change replaces the job and the endpoint on it, with the real CLI, in seconds.

Training is what makes a replacement slow, and the e2e test already trains. Here
each run folder is pre-filled with a finished artifact (a tiny model with its
manifest and a report), which the job's create recognises and adopts, exactly as
it does after an interrupted ``pulumi up`` whose job had finished. What is left is
the choreography under test: the new job is created before the old one is
deleted, the endpoint is replaced delete-first on the same port (so it never
fights itself for it), and the old run folder disappears, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers.local_project import FAST_CONFIG, LocalProject, free_port, needs_engine

from infra.backends.local import job_id
from infra.providers import procs
from stratos.manifest import manifest_hash
from stratos.planner import make_plan
from stratos.spec import DistillationRequest


def _prefill(project: LocalProject, config: dict[str, Any], seed: int) -> Path:
    """Write a finished run (artifact + report) where the program will look for this config's job."""
    from helpers.tiny_model import make_tiny_model_dir

    request = DistillationRequest.from_stack_config(config)
    plan = make_plan(request).chosen
    run = project.runs / f"job-{job_id(plan, SimpleNamespace(request=request))}"
    make_tiny_model_dir(run / "out" / "artifact", seed=seed)
    (run / "out" / "report.json").write_text(
        json.dumps({"metrics": {"student_accuracy": 0.5 + seed / 10}})
    )
    return run


@pytest.mark.engine
@pytest.mark.slow
@needs_engine
def test_constraint_change_replaces_job_and_endpoint(tmp_path: Path) -> None:
    port = free_port()
    config = {**FAST_CONFIG, "stratos:network": {"serving_port": port}}
    project = LocalProject(tmp_path, "replace", config)
    try:
        first = _prefill(project, config, seed=1)
        project.pulumi("up", "--yes", "--skip-preview")
        outs = project.outputs()
        assert outs["manifestHash"] == manifest_hash(first / "out" / "artifact")
        assert outs["accuracy"] == pytest.approx(0.6)
        old_server = next(r for r in project.resources() if r["type"].endswith("LocalServer"))[
            "outputs"
        ]
        old_rec = procs.ProcessRecord(
            old_server["pid"], old_server["startTime"], old_server["cmdline"]
        )

        changed = {
            **config,
            "stratos:constraints": {**config["stratos:constraints"], "budget_usd": 6},
        }
        second = _prefill(project, changed, seed=2)
        assert second != first
        project.write_config(changed)
        out = project.pulumi("up", "--yes", "--skip-preview")
        assert "replaced" in out.stdout

        outs2 = project.outputs()
        assert (
            outs2["manifestHash"]
            == manifest_hash(second / "out" / "artifact")
            != outs["manifestHash"]
        )
        assert outs2["accuracy"] == pytest.approx(0.7)
        assert outs2["endpoint"] == outs["endpoint"]  # same port, server replaced delete-first
        assert not procs.is_ours(old_rec)
        assert not first.exists() and second.exists()  # the old job's artifacts went with it
        from openai import OpenAI

        models = OpenAI(base_url=outs2["endpoint"], api_key=outs2["token"]).models.list()
        assert [m.id for m in models.data] == [outs2["modelName"]]
    finally:
        project.pulumi("destroy", "--yes", "--skip-preview", check=False)
    # The runs folder itself predates the stack (we pre-filled it), so it stays; its contents go.
    assert list(project.runs.iterdir()) == []
