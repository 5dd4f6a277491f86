"""The local stack under the real Pulumi CLI: preview prices it and creates nothing,
a bad config fails preview naming the key, the budget policy blocks an over-budget plan.

Each test gets a throwaway copy of the project (``Pulumi.yaml`` + links to ``infra/``
and ``.venv``), its own file backend, runs dir and ``PULUMI_HOME``, so nothing touches
the checkout's ``.state`` or ``runs`` (``helpers/local_project.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.local_project import FAST_CONFIG, LocalProject, free_port, needs_engine


@pytest.fixture
def project(tmp_path: Path) -> LocalProject:
    return LocalProject(
        tmp_path, "enginetest", {**FAST_CONFIG, "stratos:network": {"serving_port": free_port()}}
    )


@pytest.mark.engine
@needs_engine
def test_preview_prices_the_plan_and_creates_nothing(project: LocalProject) -> None:
    out, seconds = project.timed("preview")
    print(f"pulumi preview on the local stack: {seconds:.1f} s")
    text = out.stdout
    assert "plan: train on local:local" in text
    assert "estimatedCost" in text and "total_usd" in text
    assert "stratos:index:DistillationJob" in text and "LocalDistillationJob distill-run create" in text
    # Nothing exists: no resources in the state, no run folder, no server.
    assert [r for r in project.resources() if r["type"] != "pulumi:pulumi:Stack"] == []
    assert not project.runs.exists()
    assert seconds < 60, f"preview took {seconds:.1f} s"


@pytest.mark.engine
@needs_engine
@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("stratos:constraints", {"min_acuracy": 0.9}, "min_acuracy"),
        ("stratos:job", {"seed": 0, "profile": "turbo"}, "profile"),
        ("stratos:spot", "sometimes", "key 'spot' must be of type 'boolean'"),
    ],
)
def test_bad_config_fails_preview_naming_the_key(
    project: LocalProject, key: str, value: Any, named: str
) -> None:
    project.write_config({**FAST_CONFIG, key: value})
    out = project.pulumi("preview", check=False)
    assert out.returncode != 0
    assert named in out.stdout + out.stderr
    assert not project.runs.exists()


@pytest.mark.engine
@needs_engine
def test_cloud_stack_with_the_public_passphrase_fails_preview(tmp_path: Path) -> None:
    """scripts/env.sh's default passphrase is public: a cloud stack encrypted with it is refused
    before planning; the same stack with a passphrase of its own gets past that check."""
    from infra.config import PUBLIC_PASSPHRASE

    config = {**FAST_CONFIG, "stratos:target": "aws"}
    public = LocalProject(tmp_path / "public", "cloudpublic", config, passphrase=PUBLIC_PASSPHRASE)
    out = public.pulumi("preview", check=False)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "PULUMI_CONFIG_PASSPHRASE" in text and "change-secrets-provider" in text
    own = LocalProject(tmp_path / "own", "cloudown", config, passphrase="a-long-private-passphrase")
    out = own.pulumi("preview", check=False)
    assert "PULUMI_CONFIG_PASSPHRASE" not in out.stdout + out.stderr
