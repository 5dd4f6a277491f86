"""Make a stack usable again after ``pulumi up`` was killed (``python -m infra.recover --stack S``).

A killed CLI leaves two things behind in a file (``diy``) backend:

* its lock file (``.pulumi/locks/organization/<project>/<stack>/<id>.json``), so the
  next command fails with "the stack is currently locked". We remove a lock only
  when it was written on this host by a process that no longer exists; a live
  lock is left alone (another ``pulumi`` really is running).
* pending operations in the checkpoint. A pending *create* is only cleared by
  ``pulumi refresh --clear-pending-creates``, after which the state no longer knows
  what that create started. So first, for each pending local create
  (``infra.providers.leftovers``): a server it started is stopped and its folder
  removed (the next ``up`` starts a fresh one); a job is left running and written
  into the runs folder's ledger, because the local job's create is idempotent (same
  inputs -> same run folder -> the next ``up`` attaches to the still-running job or
  resumes it from its checkpoint), and ``pulumi destroy`` removes what the ledger lists.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from infra.providers import leftovers

PROJECT = "stratos"


def _backend_dir() -> Path | None:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        return None
    return Path(urlparse(url).path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale_locks(backend: Path, stack: str, project: str = PROJECT) -> list[Path]:
    """Delete this host's lock files of ``stack`` whose pid is dead; return what was removed."""
    removed = []
    lock_dir = backend / ".pulumi" / "locks" / "organization" / project / stack
    for lock in sorted(lock_dir.glob("*.json")) if lock_dir.is_dir() else []:
        try:
            body = json.loads(lock.read_text())
        except (OSError, ValueError):
            continue
        if body.get("hostname") == socket.gethostname() and not _pid_alive(int(body.get("pid", 0))):
            lock.unlink()
            lock.with_name(lock.name + ".attrs").unlink(missing_ok=True)  # the blob store's sidecar
            removed.append(lock)
    return removed


def pending_operations(stack: str, cwd: Path) -> list[dict]:
    """The pending operations recorded in the stack's checkpoint (empty when none)."""
    out = subprocess.run(
        ["pulumi", "stack", "export", "--stack", stack], cwd=cwd, capture_output=True, text=True
    )
    if out.returncode != 0:
        return []
    return list(json.loads(out.stdout).get("deployment", {}).get("pending_operations") or [])


def recover(stack: str, cwd: Path) -> None:
    backend = _backend_dir()
    if backend is not None:
        for lock in clear_stale_locks(backend, stack):
            print(f"[recover] removed stale lock {lock} (its pulumi process is gone)")
    pending = pending_operations(stack, cwd)
    if pending:
        names = ", ".join(
            op.get("resource", {}).get("urn", "?").rsplit("::", 1)[-1] for op in pending
        )
        print(f"[recover] clearing {len(pending)} interrupted operation(s): {names}")
        for op in pending:
            res = op.get("resource") or {}
            if op.get("type") == "creating":
                done = leftovers.settle(res.get("type", ""), res.get("inputs") or {})
                if done:
                    print(f"[recover] {res.get('urn', '?').rsplit('::', 1)[-1]}: {done}")
        subprocess.run(
            [
                "pulumi",
                "refresh",
                "--yes",
                "--skip-preview",
                "--clear-pending-creates",
                "--stack",
                stack,
            ],
            cwd=cwd,
            check=True,
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stack", required=True)
    p.add_argument("--cwd", type=Path, default=Path.cwd())
    args = p.parse_args(argv)
    recover(args.stack, args.cwd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
