"""Add environment markers to requirements.lock, so one lock fits every platform.

``pip freeze`` on Linux pins what Linux needs, CUDA wheels included (``nvidia-*``,
``cuda-*``, ``triton``), and those do not exist for macOS or Windows. This walks the
installed distributions' ``Requires-Dist`` from ``stratos[all]`` once per target
platform (Linux x86_64/aarch64, macOS arm64/x86_64, Windows AMD64, CPython 3.11-3.13),
evaluating every marker and extra on the way, and gives each locked package the marker
of the targets that need it (none when all do): ``nvidia-cublas`` is reached only
through torch's ``platform_system == "Linux"`` requirements, so it gets
``sys_platform == "linux"`` even though cudnn requires it unconditionally.

Usage (scripts/lock.sh runs it in the venv it froze): python scripts/lock_markers.py requirements.lock
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PLATFORMS = {  # (sys_platform, platform_machine) -> the other marker variables of that platform
    ("linux", "x86_64"): {"platform_system": "Linux", "os_name": "posix"},
    ("linux", "aarch64"): {"platform_system": "Linux", "os_name": "posix"},
    ("darwin", "arm64"): {"platform_system": "Darwin", "os_name": "posix"},
    ("darwin", "x86_64"): {"platform_system": "Darwin", "os_name": "posix"},
    ("win32", "AMD64"): {"platform_system": "Windows", "os_name": "nt"},
}
PYTHONS = ("3.11", "3.12", "3.13")
Target = tuple[str, str, str]  # sys_platform, platform_machine, python_version


def environment(target: Target) -> dict[str, str]:
    plat, machine, py = target
    return {
        **default_environment(), **PLATFORMS[(plat, machine)], "sys_platform": plat, "platform_machine": machine,
        "python_version": py, "python_full_version": f"{py}.0", "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }


def needed(root: str, extras: Iterable[str], requires: Callable[[str], list[str] | None], target: Target) -> set[str]:
    """Canonical names of every distribution ``root[extras]`` pulls in on ``target``."""
    env = environment(target)
    seen: set[tuple[str, frozenset[str]]] = set()
    out: set[str] = set()
    todo = [(canonicalize_name(root), frozenset(extras))]
    while todo:
        name, want = todo.pop()
        if (name, want) in seen:
            continue
        seen.add((name, want))
        out.add(name)
        for line in requires(name) or []:
            req = _parse(line)
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in (want or {""})):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return out


def marker_for(targets: set[Target]) -> str:
    """The marker true exactly on ``targets`` (of all PLATFORMS x PYTHONS); "" for all of them."""
    every = {(p, m, py) for (p, m) in PLATFORMS for py in PYTHONS}
    if targets >= every:
        return ""
    clauses = []
    for plat in dict.fromkeys(p for p, _ in PLATFORMS):
        machines = [m for p, m in PLATFORMS if p == plat]
        if all((plat, m, py) in targets for m in machines for py in PYTHONS):
            clauses.append(f'sys_platform == "{plat}"')
            continue
        for m in machines:
            pys = [py for py in PYTHONS if (plat, m, py) in targets]
            if not pys:
                continue
            clause = f'sys_platform == "{plat}" and platform_machine == "{m}"'
            if len(pys) < len(PYTHONS):
                clause += " and (" + " or ".join(f'python_version == "{py}"' for py in pys) + ")"
            clauses.append(clause)
    return " or ".join(f"({c})" if " and " in c and len(clauses) > 1 else c for c in clauses)


def add_markers(lines: list[str], requires: Callable[[str], list[str] | None], root: str = "stratos",
                extras: Iterable[str] = ("all",)) -> list[str]:
    """The lock's lines with ``; <marker>`` on packages some targets do not need."""
    targets = [(p, m, py) for (p, m) in PLATFORMS for py in PYTHONS]
    per_target = {t: needed(root, extras, requires, t) for t in targets}
    out = []
    for line in lines:
        spec = line.split(";")[0].strip()
        if not spec or spec.startswith("#"):
            out.append(line)
            continue
        name = canonicalize_name(spec.split("==")[0])
        marker = marker_for({t for t in targets if name in per_target[t]})
        out.append(f"{spec}; {marker}" if marker else spec)
    return out


@cache
def _parse(line: str) -> Requirement:
    return Requirement(line)


@cache
def _requires(name: str) -> list[str] | None:
    try:
        return metadata.requires(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text("\n".join(add_markers(path.read_text().splitlines(), _requires)) + "\n")
    print(f"{path}: environment markers added")
