"""Process bookkeeping for the local providers: start detached, identify, stop exactly ours.

A pid alone is not an identity (pids are reused), so every process we start is
recorded as ``(pid, start_time, cmdline)`` as psutil reports them; before we attach
to it or signal it we check all three still match. A detached process gets only
the environment it needs (:func:`child_env`): not the Pulumi passphrase, not cloud
credentials, whatever the shell that ran ``pulumi up`` held.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

#: Variables a detached job or server may inherit: locale, paths, caches, thread counts,
#: accelerators, TLS trust and proxies. Everything else (PULUMI_*, AWS_*, GOOGLE_*, tokens)
#: stays behind; a secret the process needs is passed to it by name (``extra``).
ENV_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "VIRTUAL_ENV",
     "PYTHONPATH",  # the job and the server import the stratos the program imported (a checkout on PYTHONPATH)
     "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
     "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
)
ENV_PREFIXES = ("LC_", "STRATOS_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "TORCH", "PYTORCH_",
                "OMP_", "MKL_", "OPENBLAS_", "CUDA_", "NVIDIA_", "NCCL_", "XDG_", "SKYPILOT_")
#: Credentials that match a prefix above but no detached process needs unless passed in ``extra``.
ENV_SECRETS = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "STRATOS_TEACHER_API_KEY", "STRATOS_API_TOKEN"})
#: How far two readings of one process's start time may differ (seconds; psutil derives it
#: from clock ticks and the boot time, so in practice they are equal).
START_TIME_TOLERANCE_S = 0.05


def child_env(
    extra: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a detached process: the allowed part of ``env`` (default: ours) + ``extra``."""
    env = os.environ if env is None else env
    kept = {
        k: v
        for k, v in env.items()
        if (k in ENV_NAMES or k.startswith(ENV_PREFIXES)) and k not in ENV_SECRETS
    }
    return {**kept, **(extra or {})}


@dataclass(frozen=True)
class ProcessRecord:
    """Who a process is: pid plus its start time (seconds since the epoch) and argv."""

    pid: int
    start_time: float
    cmdline: list[str]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ProcessRecord:
        d = json.loads(text)
        return cls(pid=int(d["pid"]), start_time=float(d["start_time"]), cmdline=list(d["cmdline"]))

    @classmethod
    def read(cls, path: Path) -> ProcessRecord | None:
        """The record a provider wrote to ``path``; None when there is none or it is unreadable."""
        try:
            return cls.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None


def record_of(pid: int) -> ProcessRecord | None:
    """The identity of a live (non-zombie) process, or None when it is gone."""
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            if p.status() == psutil.STATUS_ZOMBIE:
                return None
            return ProcessRecord(pid=pid, start_time=p.create_time(), cmdline=p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def is_ours(rec: ProcessRecord) -> bool:
    """True when ``rec.pid`` is alive and is still the very process we recorded."""
    live = record_of(rec.pid)
    return (
        live is not None
        and abs(live.start_time - rec.start_time) <= START_TIME_TOLERANCE_S
        and live.cmdline == rec.cmdline
    )


def start_detached(
    argv: list[str],
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    record_to: Path | None = None,
) -> ProcessRecord:
    """Start ``argv`` in its own session (survives the Pulumi CLI being killed), output to ``log_path``.

    The process gets :func:`child_env` of ours plus ``extra_env`` (the secrets it needs).
    ``record_to`` gets the process record as soon as the process exists, before any
    waiting, so whoever comes next (a retried create, ``infra.recover``, a destroy)
    can find and stop it even if this provider is killed right after.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(fd, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_env(extra_env),
            cwd=cwd,
            close_fds=True,
        )
    # /proc/<pid>/cmdline is empty for an instant around the exec: wait until it names the
    # program that runs (argv, or its interpreter for a script); a process gone already gets -1.
    rec = ProcessRecord(pid=proc.pid, start_time=-1.0, cmdline=argv)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        live = record_of(proc.pid)
        if live is None or live.cmdline:
            rec = live or rec
            break
        time.sleep(0.01)
    if record_to is not None:
        record_to.write_text(rec.to_json())
    return rec


def wait_gone(rec: ProcessRecord, timeout: float) -> bool:
    """Wait until the recorded process has exited (reaping it if it is our child)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.waitpid(rec.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if not is_ours(rec):
            return True
        time.sleep(0.1)
    return not is_ours(rec)


def stop(rec: ProcessRecord, grace: float = 10.0) -> bool:
    """SIGTERM the process group of ``rec`` if it is still ours, SIGKILL after ``grace`` s.

    Returns False when there was nothing of ours to stop (already gone or pid reused).
    """
    if not is_ours(rec):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            # We started it with start_new_session, so its pgid is its pid.
            if os.getpgid(rec.pid) == rec.pid:
                os.killpg(rec.pid, sig)
            else:
                os.kill(rec.pid, sig)
        except ProcessLookupError:
            return True
        if wait_gone(rec, wait):
            return True
    return not is_ours(rec)


def stop_recorded(path: Path, grace: float = 10.0) -> bool:
    """Stop the process recorded in the pid file ``path`` (if it is still ours); True if one was stopped."""
    rec = ProcessRecord.read(path)
    return rec is not None and stop(rec, grace)


_watchdog_started = False


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Exit this provider process when the Pulumi CLI that started it is gone.

    The engine starts plugins in their own process group, so killing the CLI (even its
    whole group) leaves the provider behind, blocked on a job or a gRPC server forever.
    Our long-running work lives in its own session and survives; the provider need not.
    """
    global _watchdog_started
    if _watchdog_started or not sys.argv[0].replace("\\", "/").endswith(
        "pulumi/dynamic/__main__.py"
    ):
        return  # only inside the engine's provider process, never in a caller's (tests)
    _watchdog_started = True
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(3)

    import threading

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) != 0


def wait_port_free(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_free(host, port):
            return True
        time.sleep(0.1)
    return port_free(host, port)
