"""Files that are either whole or absent: atomic writes, and reads that treat "absent" as None.

Why: a job killed at any moment (SIGKILL, a preempted spot node) is resumed by
trusting the files it finds, so none may be half-written. Every write goes to a
temporary name unique to the process (DDP ranks share a run dir) and is renamed
into place, which POSIX makes atomic.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def read_json(path: str | Path) -> Any | None:
    """The JSON in ``path``, or None when the file does not exist."""
    p = Path(path)
    return json.loads(p.read_text()) if p.is_file() else None


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file handle whose content appears at ``path`` only when the block completes."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(p)
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path) as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path: str | Path, body: Any, **dumps: Any) -> Any:
    """Write ``body`` as JSON (indented; ``default=str`` for paths and dates) atomically; returns ``body``."""
    atomic_write_text(path, json.dumps(body, **{"indent": 2, "default": str, **dumps}))
    return body


@contextmanager
def atomic_dir(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """A fresh temporary directory that becomes ``path`` when the block completes.

    ``replace=False``: when ``path`` appeared meanwhile (another process won the race),
    keep it and drop ours.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(p)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if p.exists() and not replace:
            return
        if p.exists():
            shutil.rmtree(p)
        tmp.rename(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL text; lines that are not one (torn by a crash) are skipped."""
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


__all__ = ["json_lines", "atomic_dir", "atomic_open", "atomic_write_json", "atomic_write_text", "read_json"]
