"""A throwaway copy of the Stratos project with one stack, driven through the real Pulumi CLI.

Used by the engine tests (``tests/engine``) and the end-to-end ones (``tests/e2e``): each
project has its own file backend, runs dir and ``PULUMI_HOME``, so nothing touches the
checkout's ``.state`` or ``runs``.
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

ROOT = Path(__file__).resolve().parents[2]  # tests/helpers/ -> the checkout
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
