"""Serve a model dir on a free loopback port for the length of an evaluation.

Evaluating a dir goes through the same HTTP server a deployment runs, so the
latency reported includes serving (queueing, batching, HTTP), not just the
forward pass. The server runs as a subprocess so the load generator and the
model don't share one Python interpreter lock.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, NamedTuple

import httpx

from stratos.exceptions import ServeError
from stratos.manifest import MANIFEST
from stratos.serve.auth import TOKEN_ENV


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer(NamedTuple):
    """A running local server: where it listens, its token, and its process (for RSS, logs)."""

    base_url: str
    token: str
    process: subprocess.Popen


@contextmanager
def local_server(
    model_dir: str | Path,
    *,
    threads: int | None = None,
    max_batch_size: int = 16,
    startup_timeout_s: float = 180.0,
    extra_args: list[str] | None = None,
    log_path: str | Path | None = None,
    device: str = "auto",
) -> Iterator[LocalServer]:
    """Start ``python -m stratos.serve`` on a free loopback port; yield a ``LocalServer``; stop it.

    ``device`` is checked here (``stratos.device.resolve_device``), so asking for CUDA on a machine
    without it fails with the setting's name instead of a server that died during startup.

    A dir with a manifest is verified (a corrupted artifact fails here with the
    server's message); a plain HF dir is served with ``--no-verify``.
    """
    from stratos.device import resolve_device

    model_dir = Path(model_dir)
    where = resolve_device(device, setting="--device")
    port = free_port()
    token = secrets.token_urlsafe(24)
    args = [
        sys.executable,
        "-m",
        "stratos.serve",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        "--max-batch-size",
        str(max_batch_size),
        "--device",
        where,
    ]
    if not (model_dir / MANIFEST).is_file():
        args.append("--no-verify")
    if threads:
        args += ["--threads", str(threads)]
    args += extra_args or []
    env = {**os.environ, TOKEN_ENV: token}
    # A file, not a pipe: an unread pipe fills up under load and stalls the server.
    log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base, startup_timeout_s, log)
        yield LocalServer(base, token, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_healthy(proc: subprocess.Popen, base: str, timeout_s: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")[-2000:]
            raise ServeError(
                f"the model server exited with code {proc.returncode} before becoming healthy:\n{err}"
            )
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise ServeError(
        f"the model server at {base} was not healthy after {timeout_s:.0f}s; see its log."
    )
