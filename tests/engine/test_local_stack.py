"""The local stack under the real Pulumi CLI: preview prices it and creates nothing,
a bad config fails preview naming the key, the budget policy blocks an over-budget plan.

Each test gets a throwaway copy of the project (``Pulumi.yaml`` + links to ``infra/``
and ``.venv``), its own file backend, runs dir and ``PULUMI_HOME``, so nothing touches
the checkout's ``.state`` or ``runs``. ``LocalProject`` is reused by ``tests/e2e``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PULUMI_BIN = ROOT / ".tools" / "pulumi" / "bin"

#: The fast profile: tiny data, about a minute of training (what CI affords).
FAST_CONFIG: dict[str, Any] = {
    "stratos:target": "local",
    "stratos:task": "mahjong",
    "stratos:constraints": {"budget_usd": 5, "serving_hours": 24, "max_train_hours": 1},
    "stratos:job": {"seed": 0, "profile": "fast"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pulumi_available() -> bool:
    return (PULUMI_BIN / "pulumi").exists() or shutil.which("pulumi") is not None


class LocalProject:
    """A throwaway copy of the Stratos project with one stack, driven through the CLI."""

    def __init__(
        self, tmp: Path, stack: str, config: dict[str, Any], passphrase: str = "stratos-test"
    ) -> None:
        self.stack = stack
        self.dir = tmp / "project"
        self.state = tmp / "state"
        self.runs = tmp / "runs"
        (self.dir / "stacks").mkdir(parents=True)
        self.state.mkdir()
        shutil.copy(ROOT / "Pulumi.yaml", self.dir / "Pulumi.yaml")
        for link in ("infra", ".venv"):
            (self.dir / link).symlink_to(ROOT / link)
        path = os.pathsep.join(
            [str(PULUMI_BIN), str(ROOT / ".venv" / "bin"), os.environ.get("PATH", "")]
        )
        self.env = {
            **os.environ,
            "PATH": path,
            "PULUMI_HOME": str(tmp / "pulumi-home"),
            "PULUMI_BACKEND_URL": self.state.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "1",
            "STRATOS_RUNS_DIR": str(self.runs),
            "OMP_NUM_THREADS": "2",
        }
        self.write_config(config)
        self.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")

    @property
    def config_file(self) -> Path:
        return self.dir / "stacks" / f"Pulumi.{self.stack}.yaml"

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the stack's request (keeps Pulumi's encryption salt and secrets)."""
        old = yaml.safe_load(self.config_file.read_text()) if self.config_file.exists() else {}
        doc = {k: v for k, v in (old or {}).items() if k != "config"}
        secrets = {
            k: v
            for k, v in ((old or {}).get("config") or {}).items()
            if isinstance(v, dict) and "secure" in v
        }
        doc["config"] = {**config, **secrets}
        self.config_file.write_text(yaml.safe_dump(doc, sort_keys=False))

    def pulumi(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        cmd = ["pulumi", *args, "--non-interactive", "--color", "never"]
        if args[0] not in ("stack",) or args[:2] in (("stack", "output"), ("stack", "export")):
            cmd += ["--stack", self.stack]
        out = subprocess.run(
            cmd, cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and out.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
            )
        return out

    def timed(self, *args: str, **kw: Any) -> tuple[subprocess.CompletedProcess, float]:
        t0 = time.monotonic()
        out = self.pulumi(*args, **kw)
        return out, time.monotonic() - t0

    def outputs(self) -> dict[str, Any]:
        return json.loads(self.pulumi("stack", "output", "--json", "--show-secrets").stdout)

    def resources(self) -> list[dict[str, Any]]:
        body = json.loads(self.pulumi("stack", "export").stdout)
        return list(body.get("deployment", {}).get("resources") or [])


needs_engine = pytest.mark.skipif(
    not pulumi_available(),
    reason="no Pulumi CLI: run scripts/setup.sh (builds it into .tools/pulumi/bin)",
)


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
