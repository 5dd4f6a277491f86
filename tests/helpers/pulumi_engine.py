"""The real Pulumi CLI for tests (marker ``engine``): ``PulumiCli`` and its fixture.

Use from a conftest: ``from helpers.pulumi_engine import pulumi_cli  # noqa: F401``.

``pulumi_cli`` gives each test a private engine setup: the CLI that setup put in
``.tools/pulumi/bin`` (or the user's own on PATH), a ``file://`` backend and a
``PULUMI_HOME`` under the test's tmp dir, a passphrase secrets provider, and no
update checks or plugin downloads. Nothing touches the checkout's ``.state`` or
``~/.pulumi``. A missing CLI fails the test with the command that fixes it: these
tests are how we know the engine works, so they never skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pulumi import automation as auto

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "pulumi" / "bin"
TEST_PASSPHRASE = "stratos-engine-test"


def locate_pulumi(search_path: str) -> Path | None:
    """The ``pulumi`` executable on ``search_path`` (a PATH string), or None."""
    found = shutil.which("pulumi", path=search_path)
    return Path(found) if found else None


@dataclass(frozen=True)
class PulumiCli:
    """One test's Pulumi engine: the CLI, where state goes, and the env to run it in."""

    executable: Path
    backend_dir: Path
    home: Path
    passphrase: str
    env: dict[str, str] = field(repr=False)

    @property
    def backend_url(self) -> str:
        return self.backend_dir.as_uri()

    def command(self) -> auto.PulumiCommand:
        """The Automation API's handle on this CLI (``root`` holds ``bin/pulumi``)."""
        return auto.PulumiCommand(root=str(self.executable.parent.parent))

    def workspace_options(self, work_dir: Path) -> auto.LocalWorkspaceOptions:
        """Options for a LocalWorkspace on the program in ``work_dir``."""
        return auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            pulumi_home=str(self.home),
            env_vars=self.env,
            secrets_provider="passphrase",
            pulumi_command=self.command(),
        )

    def run(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        """Run the CLI directly; on failure the assertion carries its output."""
        cmd = [str(self.executable), *args, "--non-interactive", "--color", "never"]
        out = subprocess.run(
            cmd, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        if check and out.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
            )
        return out


@pytest.fixture
def pulumi_cli(tmp_path: Path) -> PulumiCli:
    """A private file backend + PULUMI_HOME for one test, with the engine on PATH."""
    search_path = os.pathsep.join(
        [str(TOOLS_BIN), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    executable = locate_pulumi(search_path)
    if executable is None:
        pytest.fail(
            "no Pulumi CLI: neither .tools/pulumi/bin/pulumi nor a `pulumi` on PATH. "
            "Run `bash scripts/setup.sh` (it builds the CLI from Go modules when none is installed).",
            pytrace=False,
        )
    backend_dir = tmp_path / "pulumi-state"
    home = tmp_path / "pulumi-home"
    backend_dir.mkdir()
    home.mkdir()
    env = {
        **os.environ,
        "PATH": search_path,
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": backend_dir.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": TEST_PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "1",
    }
    env.pop("PULUMI_ACCESS_TOKEN", None)
    return PulumiCli(
        executable=executable,
        backend_dir=backend_dir,
        home=home,
        passphrase=TEST_PASSPHRASE,
        env=env,
    )
