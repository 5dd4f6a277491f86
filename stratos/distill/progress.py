"""Progress: JSON lines for machines (the Pulumi resource tails them), rich bars for people.

Every event is one line ``{"time": ..., "phase": "train", "progress": 0.42, ...}``
appended to the log file and flushed, so a reader tailing the file never sees
a partial line it has to guess about. ``progress`` is the phase's fraction done.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class JobProgress:
    """One bar per phase on the terminal (stderr); every update also logged as JSON."""

    def __init__(self, log_file: str | Path | None = None, *, quiet: bool = False) -> None:
        self.log_path = Path(log_file) if log_file else None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.console = Console(stderr=True)
        self.bars = Progress(
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=quiet or not sys.stderr.isatty(),
        )
        self._tasks: dict[str, Any] = {}
        self.phase = "setup"

    def __enter__(self) -> JobProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def emit(self, **fields: Any) -> None:
        rec = {"time": round(time.time(), 3), "phase": self.phase, **fields}
        if self.log_path:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(rec, default=str) + "\n")
                f.flush()

    def start(self, phase: str, **fields: Any) -> None:
        self.phase = phase
        if phase not in self._tasks:
            self._tasks[phase] = self.bars.add_task(phase, total=1.0, info="")
        self.emit(progress=0.0, event="start", **fields)

    def update(self, progress: float, **fields: Any) -> None:
        info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items() if k in ("step", "loss", "val_accuracy", "done"))
        if self.phase in self._tasks:
            self.bars.update(self._tasks[self.phase], completed=min(1.0, progress), info=info)
        self.emit(progress=round(min(1.0, progress), 4), **fields)

    def done(self, **fields: Any) -> None:
        if self.phase in self._tasks:
            self.bars.update(self._tasks[self.phase], completed=1.0)
        self.emit(progress=1.0, event="done", **fields)

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)
        self.emit(message=text)
