"""`stratos serve` / `python -m stratos.serve`: token sources, refusing to start, artifact checks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.tiny_model import make_tiny_model_dir
from pydantic import SecretStr
from typer.testing import CliRunner

from stratos.exceptions import ArtifactError, ServeError
from stratos.serve import cli as serve_cli
from stratos.serve.auth import TOKEN_ENV, load_token, token_matches
from stratos.serve.server import ServeConfig, check_artifact


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("art") / "model")


def run_module(
    *args: str, env_token: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if env_token:
        env[TOKEN_ENV] = env_token
    return subprocess.run(
        [sys.executable, "-m", "stratos.serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_token_from_file_then_env(tmp_path):
    f = tmp_path / "token"
    f.write_text("  from-file\n")
    assert load_token(f, env={TOKEN_ENV: "from-env"}).get_secret_value() == "from-file"
    assert load_token(None, env={TOKEN_ENV: "from-env"}).get_secret_value() == "from-env"
    assert load_token(None, env={}) is None


def test_unreadable_or_empty_token_file(tmp_path):
    with pytest.raises(ServeError, match="cannot read"):
        load_token(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ServeError, match="empty"):
        load_token(tmp_path / "empty")


def test_token_matching():
    secret = SecretStr("abc123")
    assert token_matches(secret, "Bearer abc123")
    assert token_matches(secret, "bearer abc123")
    for header in (None, "", "abc123", "Bearer abc12", "Bearer abc1234", "Basic abc123"):
        assert not token_matches(secret, header)


def test_refuses_to_start_without_a_token(artifact):
    p = run_module("--model", str(artifact))
    assert p.returncode != 0
    assert "no API token" in p.stderr and "--no-auth" in p.stderr


def test_corrupted_artifact_refuses_to_start(artifact, tmp_path):
    bad = make_tiny_model_dir(tmp_path / "bad")
    weights = bad / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    p = run_module("--model", str(bad), env_token="t")
    assert p.returncode != 0
    assert "checksum mismatch ['model.safetensors']" in p.stderr.replace("\n", " ")


def test_plain_hf_dir_needs_no_verify(tmp_path):
    plain = make_tiny_model_dir(tmp_path / "plain", manifest=False)
    with pytest.raises(ArtifactError, match="--no-verify"):
        check_artifact(plain, verify=True)
    assert check_artifact(plain, verify=False) is False
    assert check_artifact(make_tiny_model_dir(tmp_path / "art"), verify=True) is True


def test_cli_builds_the_config(monkeypatch, artifact, tmp_path):
    seen: list[ServeConfig] = []
    monkeypatch.setattr("stratos.serve.server.run", seen.append)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token = tmp_path / "tok"
    token.write_text("s3cret")
    app = _app()
    result = CliRunner().invoke(
        app,
        [
            "--model",
            str(artifact),
            "--port",
            "9123",
            "--token-file",
            str(token),
            "--model-name",
            "student",
            "--max-batch-size",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert (config.port, config.served_name, config.max_batch_size, config.verify) == (
        9123,
        "student",
        4,
        True,
    )
    assert config.token.get_secret_value() == "s3cret" and config.host == "127.0.0.1"

    result = CliRunner().invoke(
        app, ["--model", str(artifact), "--token-file", str(token), "--no-auth"]
    )
    assert isinstance(result.exception, ServeError)

    result = CliRunner().invoke(app, ["--model", str(artifact), "--no-auth", "--no-verify"])
    assert result.exit_code == 0 and seen[-1].token is None and seen[-1].verify is False


def _app():
    import typer

    app = typer.Typer()
    app.command()(serve_cli.serve)
    return app
