"""The public passphrase from scripts/env.sh is for the local stack only: a cloud stack whose
secrets it would encrypt is refused, naming PULUMI_CONFIG_PASSPHRASE and the fix."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from infra.config import PUBLIC_PASSPHRASE, check_secrets_provider
from stratos.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DIY = {"PULUMI_BACKEND_URL": "file:///tmp/state"}
SALTED = {"encryptionsalt": "v1:abc", "config": {}}


def test_env_sh_default_is_the_passphrase_the_program_refuses() -> None:
    text = (ROOT / "scripts" / "env.sh").read_text()
    assert re.search(rf"PULUMI_CONFIG_PASSPHRASE={PUBLIC_PASSPHRASE}\b", text)
    out = subprocess.run(
        ["bash", "-c", "unset PULUMI_CONFIG_PASSPHRASE PULUMI_CONFIG_PASSPHRASE_FILE; source scripts/env.sh offline; "
         "printf %s \"$PULUMI_CONFIG_PASSPHRASE\""],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert out.stdout == PUBLIC_PASSPHRASE


@pytest.mark.parametrize("target", ["aws", "gcp"])
def test_cloud_stack_with_the_public_passphrase_is_refused(target: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_secrets_provider(target, "prod", {**DIY, "PULUMI_CONFIG_PASSPHRASE": PUBLIC_PASSPHRASE}, SALTED)
    msg = str(e.value)
    assert "PULUMI_CONFIG_PASSPHRASE" in msg and "change-secrets-provider" in msg and "\n" not in msg


def test_public_passphrase_from_a_file_is_refused_too(tmp_path: Path) -> None:
    f = tmp_path / "pass"
    f.write_text(PUBLIC_PASSPHRASE + "\n")
    with pytest.raises(ConfigError):
        check_secrets_provider("aws", "prod", {**DIY, "PULUMI_CONFIG_PASSPHRASE_FILE": str(f)}, {})


@pytest.mark.parametrize(
    ("target", "env", "stack_file"),
    [
        ("local", {**DIY, "PULUMI_CONFIG_PASSPHRASE": PUBLIC_PASSPHRASE}, SALTED),
        ("aws", {**DIY, "PULUMI_CONFIG_PASSPHRASE": "a-long-private-passphrase"}, SALTED),
        ("aws", {**DIY, "PULUMI_CONFIG_PASSPHRASE": PUBLIC_PASSPHRASE},
         {"secretsprovider": "awskms://alias/stratos", "encryptedkey": "x"}),
        ("gcp", {"PULUMI_CONFIG_PASSPHRASE": PUBLIC_PASSPHRASE}, {}),  # Pulumi Cloud: its own secrets
    ],
)
def test_what_is_allowed(target, env, stack_file) -> None:
    check_secrets_provider(target, "s", env, stack_file)
