"""What an interrupted create left on this machine that the stack state does not know.

``pulumi up`` killed during a local create leaves a *pending create*: the resource is
not in the state, but its detached process (a job, a server) and its folder are.
``infra.recover`` clears pending creates so the stack is usable again; before it
does, it stops what can simply be restarted (a server) and writes what is worth
keeping (a job, which the next ``up`` attaches to or resumes from its checkpoint)
into a ledger in the stack's runs folder. The runs folder's own delete (the last
thing ``pulumi destroy`` removes) reads the ledger and removes what is still there.

Every folder is checked against its owner marker before anything is stopped or
removed, so a ledger line never touches a folder that is not a Stratos run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from infra.providers import procs

LEDGER = ".stratos-leftovers.json"
JOB_TYPE = "pulumi-python:dynamic/stratos:LocalDistillationJob"
SERVER_TYPE = "pulumi-python:dynamic/stratos:LocalServer"
#: resource type -> (input naming its folder, owner marker, pid file in that folder)
KINDS = {
    JOB_TYPE: ("runDir", ".stratos-job", "job.pid.json"),
    SERVER_TYPE: ("stateDir", ".stratos-server", "server.pid.json"),
}


def _ours(folder: Path, marker: str) -> bool:
    return (folder / marker).is_file()


def clean(folder: Path, marker: str, pid_file: str) -> bool:
    """Stop the process recorded in ``folder`` and remove it, if it is a Stratos run; True if removed."""
    if not _ours(folder, marker):
        return False
    procs.stop_recorded(folder / pid_file)
    shutil.rmtree(folder, ignore_errors=True)
    return True


def settle(resource_type: str, inputs: dict) -> str | None:
    """Deal with one pending create's leftovers (see the module docstring); what was done, or None."""
    kind = KINDS.get(resource_type)
    if kind is None or not inputs.get(kind[0]):
        return None
    key, marker, pid_file = kind
    folder = Path(inputs[key])
    if resource_type == SERVER_TYPE:
        return f"stopped the server it started and removed {folder}" if clean(folder, marker, pid_file) else None
    if not _ours(folder, marker):
        return None
    ledger = folder.parent / LEDGER
    entries = read(ledger)
    entry = {"dir": str(folder), "marker": marker, "pid_file": pid_file}
    if entry not in entries:
        ledger.write_text(json.dumps([*entries, entry], indent=1))
    return (
        f"left the job running in {folder}: the next `pulumi up` attaches to it or resumes it "
        "from its checkpoint; `pulumi destroy` stops it and removes the folder"
    )


def read(ledger: Path) -> list[dict]:
    try:
        body = json.loads(ledger.read_text())
    except (OSError, ValueError):
        return []
    return [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []


def sweep(runs: Path) -> list[Path]:
    """Remove what the ledger in ``runs`` lists (still ours) and the ledger; the folders removed."""
    ledger = runs / LEDGER
    removed = [
        Path(e["dir"])
        for e in read(ledger)
        if {"dir", "marker", "pid_file"} <= e.keys()
        and Path(e["dir"]).parent == runs
        and clean(Path(e["dir"]), e["marker"], e["pid_file"])
    ]
    ledger.unlink(missing_ok=True)
    return removed
