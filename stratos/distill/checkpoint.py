"""Atomic, self-describing training checkpoints.

A checkpoint is a directory ``ckpt/step-000123/`` holding ``state.pt``
(model, optimizer, scheduler, RNG states, step, metric history, the resolved
config) written to a temporary name and renamed, then ``ckpt/LATEST`` (a file
naming it) replaced atomically. A SIGKILL at any moment leaves either the old
or the new checkpoint complete, never a torn one. Old checkpoints beyond
``keep`` are deleted after the new one is in place.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stratos.io import atomic_dir, atomic_open, atomic_write_text

LATEST = "LATEST"


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(ckpt_dir: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as ``step-<step>`` and point ``LATEST`` at it."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / f"step-{step:07d}"
    with atomic_dir(final) as tmp, atomic_open(tmp / "state.pt", "wb") as f:
        torch.save(state, f)
    atomic_write_text(ckpt_dir / LATEST, final.name)
    for old in sorted(ckpt_dir.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_latest(ckpt_dir: str | Path) -> dict[str, Any] | None:
    """The newest complete checkpoint's state, or None when there is none."""
    ckpt_dir = Path(ckpt_dir)
    pointer = ckpt_dir / LATEST
    if not pointer.is_file():
        return None
    path = ckpt_dir / pointer.read_text().strip() / "state.pt"
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
