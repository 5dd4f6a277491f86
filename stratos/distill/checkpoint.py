"""Atomic, self-describing training checkpoints that load without running code.

A checkpoint is a directory ``ckpt/step-000123/`` holding ``state.pt`` (model,
optimizer, scheduler, RNG states, step, metric history, the resolved config),
written to a temporary name, fsynced and renamed; then ``ckpt/LATEST`` (a file
naming it) is replaced atomically and fsynced with its directory. A SIGKILL or a
power cut at any moment leaves either the old or the new checkpoint complete,
never a torn one. Old checkpoints beyond ``keep`` are deleted after the new one is
in place, and temporary dirs a killed writer left behind are removed.

Loading uses ``torch.load(weights_only=True)``: torch's restricted unpickler,
which builds tensors and plain containers and refuses anything that would call
code (a crafted ``state.pt`` cannot run anything). So the state holds only
tensors, numbers, strings, lists, tuples and dicts: :func:`rng_state` stores
NumPy's generator state as plain lists, and :func:`save_checkpoint` turns stray
NumPy scalars into Python numbers.

When the checkpoint ``LATEST`` names cannot be read, the next older one is used
(and said so); an empty or dangling pointer with nothing readable behind it is an
error, never a silent restart at step 0.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stratos.exceptions import CheckpointError

LATEST = "LATEST"
STATE = "state.pt"
TMP_PREFIX = ".tmp-step-"


def rng_state() -> dict[str, Any]:
    """Every RNG the job draws from, as plain values (loadable with ``weights_only=True``)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"name": name, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _plain(obj: Any) -> Any:
    """``obj`` with NumPy scalars and arrays as Python numbers and tensors; containers
    without any are returned as they are (a state dict keeps its ``_metadata``)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, dict):
        new = {k: _plain(v) for k, v in obj.items()}
        return obj if all(new[k] is obj[k] for k in obj) else new
    if isinstance(obj, (list, tuple)):
        new_items = [_plain(v) for v in obj]
        return obj if all(a is b for a, b in zip(new_items, obj, strict=True)) else type(obj)(new_items)
    return obj


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, write: Any) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(ckpt_dir: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as ``step-<step>`` and point ``LATEST`` at it (both durable on return)."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for stale in ckpt_dir.glob(f"{TMP_PREFIX}*"):  # a writer killed mid-save (any pid, any step)
        shutil.rmtree(stale, ignore_errors=True)
    final = ckpt_dir / f"step-{step:07d}"
    tmp = ckpt_dir / f"{TMP_PREFIX}{step:07d}-{os.getpid()}"
    tmp.mkdir()
    _write_synced(tmp / STATE, lambda f: torch.save(_plain(state), f))
    _fsync_dir(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    pointer = ckpt_dir / f".{LATEST}.tmp"
    _write_synced(pointer, lambda f: f.write(final.name.encode()))
    pointer.replace(ckpt_dir / LATEST)
    _fsync_dir(ckpt_dir)
    for old in sorted(ckpt_dir.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_latest(ckpt_dir: str | Path) -> dict[str, Any] | None:
    """The newest readable checkpoint's state; None when the run has none yet.

    Raises :class:`CheckpointError` when ``LATEST`` is empty, or when checkpoints
    exist but none of them can be read.
    """
    ckpt_dir = Path(ckpt_dir)
    pointer = ckpt_dir / LATEST
    steps = sorted(ckpt_dir.glob("step-*"), reverse=True)
    if not pointer.is_file() and not steps:
        return None
    named = pointer.read_text().strip() if pointer.is_file() else None
    if named == "":
        raise CheckpointError(
            f"{pointer} is empty, so the run's progress is unknown. Restore it (it names a "
            f"step-* dir in {ckpt_dir}), or delete {ckpt_dir} to train from step 0."
        )
    order = ([ckpt_dir / named] if named else []) + [s for s in steps if s.name != named]
    errors = []
    for cand in order:
        try:
            state = _load(cand / STATE)
        except Exception as exc:  # noqa: BLE001 - any unreadable file means: try the previous one
            errors.append(f"{cand.name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        if errors:
            print(f"[checkpoint] skipped unreadable {'; '.join(errors)}; resuming from {cand.name}", file=sys.stderr)
        return state
    raise CheckpointError(
        f"no readable checkpoint in {ckpt_dir} ({'; '.join(errors)}). A file that cannot be loaded "
        "with weights_only=True was written by an older Stratos or altered. "
        f"Delete {ckpt_dir} to train from step 0."
    )
