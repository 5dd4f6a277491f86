"""Checkpoints under faults: torn writes, corrupted or crafted files, empty pointers."""

from __future__ import annotations

import os
import pathlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from stratos.distill.checkpoint import (
    LATEST,
    load_latest,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from stratos.exceptions import CheckpointError


def _save(ckpt: Path, *steps: int) -> None:
    for step in steps:
        save_checkpoint(ckpt, step, {"step": step, "w": torch.ones(2) * step}, keep=3)


def test_a_stale_temp_dir_from_a_killed_writer_is_removed(tmp_path: Path) -> None:
    _save(tmp_path, 5)
    stale = tmp_path / ".tmp-step-0000010-99999"
    stale.mkdir()
    (stale / "state.pt").write_bytes(b"half a checkpoint")
    _save(tmp_path, 10)
    assert not stale.exists()
    assert load_latest(tmp_path)["step"] == 10


def test_an_unreadable_latest_falls_back_to_the_previous(tmp_path: Path, capsys) -> None:
    _save(tmp_path, 5, 10)
    (tmp_path / "step-0000010" / "state.pt").write_bytes(b"\x00" * 10)  # bit rot, a torn copy
    assert load_latest(tmp_path)["step"] == 5
    assert "step-0000010" in capsys.readouterr().err
    # LATEST naming a dir that is gone: the same fallback.
    (tmp_path / LATEST).write_text("step-0000099")
    assert load_latest(tmp_path)["step"] == 5


def test_an_empty_pointer_is_an_error_not_a_restart_at_step_0(tmp_path: Path) -> None:
    _save(tmp_path, 5)
    (tmp_path / LATEST).write_text("")
    with pytest.raises(CheckpointError, match=r"LATEST is empty.*delete"):
        load_latest(tmp_path)


def test_nothing_readable_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    _save(tmp_path, 5)
    (tmp_path / "step-0000005" / "state.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"no readable checkpoint.*Delete"):
        load_latest(tmp_path)


class _Payload:
    """What a crafted checkpoint carries: unpickling it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_crafted_state_file_runs_no_code(tmp_path: Path) -> None:
    _save(tmp_path, 5)
    marker = tmp_path / "pwned"
    evil = tmp_path / "step-0000010"
    evil.mkdir()
    torch.save({"step": 10, "x": _Payload(marker)}, evil / "state.pt")
    (tmp_path / LATEST).write_text(evil.name)
    assert load_latest(tmp_path)["step"] == 5  # refused, fell back to the genuine one
    assert not marker.exists(), "loading a checkpoint executed code from it"


def test_the_pointer_and_its_dir_are_fsynced(tmp_path: Path, monkeypatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    _save(tmp_path, 5)
    assert any(p.endswith(f".{LATEST}.tmp") for p in synced), synced
    assert str(tmp_path) in synced, "the rename of LATEST must be made durable (directory fsync)"


def test_a_training_state_round_trips_with_weights_only(tmp_path: Path) -> None:
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "rng": rng_state(), "history": [{"step": 1, "loss": np.float32(0.5)}], "best": np.float64(0.25),
        "fit_marks": {0: 1.5}, "config": {"seed": 0, "lr": 1e-3},
    }
    draws = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    save_checkpoint(tmp_path, 1, state)
    loaded = load_latest(tmp_path)
    set_rng_state(loaded["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == draws
    assert loaded["best"] == 0.25 and loaded["history"][0]["loss"] == 0.5
    opt2 = torch.optim.AdamW(torch.nn.Linear(4, 3).parameters(), lr=1e-3)
    opt2.load_state_dict(loaded["optimizer"])
    assert torch.equal(loaded["model"]["weight"], model.weight.detach())
