"""Process bookkeeping for the local providers: start detached, identify, stop exactly ours.

A pid alone is not an identity (pids are reused), so every process we start is
recorded as ``(pid, start_time, cmdline)`` read from ``/proc``; before we attach
to it or signal it we check all three still match.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    """Who a process is: pid plus the kernel start time (clock ticks since boot) and argv."""

    pid: int
    start_time: int
    cmdline: list[str]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ProcessRecord:
        d = json.loads(text)
        return cls(pid=int(d["pid"]), start_time=int(d["start_time"]), cmdline=list(d["cmdline"]))


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].split()[0] == "Z"


def record_of(pid: int) -> ProcessRecord | None:
    """The identity of a live process, or None when it is gone."""
    start, cmd = _start_time(pid), _cmdline(pid)
    if start is None or cmd is None:
        return None
    return ProcessRecord(pid=pid, start_time=start, cmdline=cmd)


def is_ours(rec: ProcessRecord) -> bool:
    """True when ``rec.pid`` is alive and is still the very process we recorded."""
    live = record_of(rec.pid)
    return (
        live is not None
        and not _is_zombie(rec.pid)
        and live.start_time == rec.start_time
        and live.cmdline == rec.cmdline
    )


def start_detached(
    argv: list[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> ProcessRecord:
    """Start ``argv`` in its own session (survives the Pulumi CLI being killed), output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=cwd,
            close_fds=True,
        )
    # /proc/<pid>/cmdline is empty for an instant after fork; wait for the exec.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rec = record_of(proc.pid)
        if rec is not None and rec.cmdline == argv:
            return rec
        time.sleep(0.02)
    rec = record_of(proc.pid)
    if rec is None:
        return ProcessRecord(pid=proc.pid, start_time=-1, cmdline=argv)
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
