"""The policy pack (``infra/policies``) on the local stack's preview, with the real CLI.

The planner already refuses plans over ``constraints.budget_usd`` (InfeasibleError),
so the mandatory budget guard is the second line: it checks what is actually about
to be deployed. The over-budget case therefore needs a plan that did not come
straight from the planner - a plan edited after planning, built here by a small
program that uses the real components and local backend with the estimate raised.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.local_project import FAST_CONFIG, ROOT, LocalProject, free_port, needs_engine

POLICIES = ROOT / "infra" / "policies"

EDITED_PLAN_PROGRAM = textwrap.dedent(
    f'''
    """The Stratos program, except that the plan's estimate is tripled after planning."""
    import sys

    sys.path.insert(0, {str(ROOT)!r})

    from infra.backends import get_backend
    from infra.components import (
        ArtifactStore, ArtifactStoreArgs, DistillationJob, DistillationJobArgs,
        TrainingCluster, TrainingClusterArgs,
    )
    from infra.config import load_settings
    from stratos.planner import make_plan

    settings = load_settings()
    plan = make_plan(settings.request).chosen
    budget = settings.request.constraints.budget_usd
    plan = plan.model_copy(update={{"cost": plan.cost.model_copy(update={{"total_usd": 3 * budget}})}})
    backend = get_backend(settings.target)
    store = ArtifactStore("artifacts", ArtifactStoreArgs(backend, plan, settings))
    cluster = TrainingCluster("trainer", TrainingClusterArgs(backend, plan, settings, store.outputs))
    DistillationJob("distill", DistillationJobArgs(backend, plan, settings, store.outputs, cluster.outputs))
    '''
)


@pytest.fixture
def project(tmp_path: Path) -> LocalProject:
    return LocalProject(
        tmp_path, "policytest", {**FAST_CONFIG, "stratos:network": {"serving_port": free_port()}}
    )


@pytest.mark.engine
@needs_engine
def test_policy_pack_passes_the_local_plan(project: LocalProject) -> None:
    out = project.pulumi("preview", "--policy-pack", str(POLICIES))
    assert "stratos-budget-guard" not in out.stdout  # no violation reported
    assert "Policies:" in out.stdout or "policies" in out.stdout.lower()
    assert not project.runs.exists()


@pytest.mark.engine
@needs_engine
def test_budget_guard_blocks_an_over_budget_plan(project: LocalProject) -> None:
    program = project.dir / "edited"
    program.mkdir()
    (program / "__main__.py").write_text(EDITED_PLAN_PROGRAM)
    text = (project.dir / "Pulumi.yaml").read_text().replace("main: infra/", "main: edited/")
    (project.dir / "Pulumi.yaml").write_text(text)

    out = project.pulumi("preview", "--policy-pack", str(POLICIES), check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "stratos-budget-guard" in text
    assert "15.00 USD, over the budget of 5.00 USD" in text
    assert not project.runs.exists()
