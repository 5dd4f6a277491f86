"""``stratos synth <task>``: synthesise a dataset of questions with known, verified answers.

Generic over every registered task (``stratos.tasks.get_task``); a task defined
outside Stratos is loaded with ``--task-module`` (a module name or a ``.py``
file that calls ``register_task``).

Output: JSONL, one object per line, with these fields:

=============  ============================================================
``id``         unique within the file (``<task>-<mode>-<seed>-<n>``)
``question``   the task's question (Mahjong: the canonical compact hand)
``answer``     the verified answer (Mahjong: sorted wait codes, [] if none)
``difficulty`` the task's difficulty label
``source``     ``reverse`` or ``forward``
``rationale``  a verified step-by-step solution ending in the answer line,
               or null with ``--rationale none``
``split``      ``train`` / ``val`` / ``test`` when the task defines splits
               (a question never appears in two splits)
``meta``       task-specific extras (Mahjong: ``n_waits``, ``rules``)
=============  ============================================================

plus the task's own names for question and answer (``record_aliases``;
Mahjong adds ``hand`` and ``waits``, the fields ``stratos eval`` reads).
Every row is checked with the task's ``check`` (and ``check_rationale`` when
the task has one) before it is written; a failing row aborts the run.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from stratos.exceptions import ConfigError, StratosError
from stratos.tasks.base import Example, Task, get_task


class SynthesisError(StratosError):
    """A synthesised row failed its task's checker (a bug in the task's generator or rationale)."""


def load_task_module(spec: str) -> None:
    """Import ``spec`` (a dotted module name or a path to a ``.py`` file) so it can register tasks."""
    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(
                f"--task-module {spec!r}: no such file; give a .py file or a dotted module name"
            )
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        if mod_spec is None or mod_spec.loader is None:
            raise ConfigError(f"--task-module {spec!r}: cannot load it as a Python module")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[path.stem] = module
        mod_spec.loader.exec_module(module)
        return
    try:
        importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(
            f"--task-module {spec!r}: {exc}; is it on PYTHONPATH (or give the .py path)?"
        ) from exc


def parse_controls(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values are read as JSON when they parse (``2``, ``true``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--control {pair!r}: write KEY=VALUE, e.g. --control min_waits=2")
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = value
    return out


def to_record(task: Task, ex: Example, split: str | None) -> dict[str, Any]:
    """One JSONL row: the Example's fields, the task's aliases, and the split."""
    row = asdict(ex)
    for alias, field in getattr(task, "record_aliases", {}).items():
        row[alias] = row[field]
    if split is not None:
        row["split"] = split
    return row


def verify(task: Task, ex: Example) -> None:
    """Raise ``SynthesisError`` unless the answer and rationale pass the task's own checks."""
    if not task.check(ex.question, ex.answer):
        raise SynthesisError(
            f"{ex.id}: answer {ex.answer!r} fails {task.name}.check; the generator is wrong"
        )
    if ex.rationale is None:
        return
    if task.parse_answer(ex.rationale) != task.parse_answer(task.format_answer(ex.answer)):
        raise SynthesisError(f"{ex.id}: the rationale's answer line disagrees with the answer")
    checker = getattr(task, "check_rationale", None)
    if checker is not None:
        errors = checker(ex.question, ex.rationale)
        if errors:
            raise SynthesisError(f"{ex.id}: rationale fails its checker: {'; '.join(errors[:3])}")


def synth(
    task_name: str = typer.Argument(..., metavar="TASK", help="A registered task, e.g. mahjong."),
    mode: str = typer.Option(
        "reverse", help="reverse (build answer first) | forward (draw, then solve)."
    ),
    n: int = typer.Option(1000, "--n", min=1, help="How many examples."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same file."),
    out: Path = typer.Option(..., "--out", help="Where to write the JSONL."),
    rationale: str = typer.Option(
        "short", help="Attach a verified rationale: short | full | none."
    ),
    n_suits: int | None = typer.Option(
        None, help="(mahjong) exact number of numbered suits (1-3)."
    ),
    honours: bool | None = typer.Option(
        None, "--honours/--no-honours", help="(mahjong) require / forbid honours."
    ),
    chinitsu: bool = typer.Option(False, help="(mahjong) single-suit puzzles only."),
    min_waits: int | None = typer.Option(None, help="(mahjong) at least this many waits."),
    max_waits: int | None = typer.Option(None, help="(mahjong) at most this many waits."),
    control: list[str] = typer.Option(
        [], "--control", "-c", help="Any task control as KEY=VALUE (repeatable)."
    ),
    task_module: str | None = typer.Option(
        None, help="Module or .py file that registers a custom task."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Synthesise a task dataset (JSONL) with known, verified answers and rationales."""
    if mode not in ("reverse", "forward"):
        raise ConfigError(f"--mode {mode!r}: use reverse or forward")
    if rationale not in ("short", "full", "none"):
        raise ConfigError(f"--rationale {rationale!r}: use short, full or none")
    if task_module:
        load_task_module(task_module)
    task = get_task(task_name)
    controls = parse_controls(control)
    named = {"n_suits": n_suits, "honours": honours, "min_waits": min_waits, "max_waits": max_waits}
    controls.update({k: v for k, v in named.items() if v is not None})
    if chinitsu:
        controls["chinitsu"] = True
    console = Console(stderr=True)
    t0 = time.perf_counter()
    try:
        with console.status(f"generating {n} {mode} {task.name} examples"):
            items = task.generate(n, seed, mode, **controls)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{task.name} could not generate: {exc}") from exc
    splits_of: dict[str, str] = {}
    if hasattr(task, "splits"):
        for name, part in task.splits(items).items():
            splits_of.update({e.id: name for e in part})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    with Progress(console=console, transient=True) as progress, open(tmp, "w") as f:
        bar = progress.add_task("verifying and writing", total=len(items))
        for ex in items:
            if rationale != "none":
                ex = Example(
                    **{**asdict(ex), "rationale": task.rationale(ex.question, ex.answer, rationale)}
                )
            verify(task, ex)
            f.write(json.dumps(to_record(task, ex, splits_of.get(ex.id)), sort_keys=True) + "\n")
            progress.advance(bar)
    tmp.replace(out)
    summary = {
        "task": task.name,
        "mode": mode,
        "n": len(items),
        "seed": seed,
        "out": str(out),
        "seconds": round(time.perf_counter() - t0, 3),
        "difficulty": dict(sorted(Counter(e.difficulty for e in items).items())),
        "split": dict(sorted(Counter(splits_of.values()).items())),
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    table = Table(title=f"{summary['n']} {task.name} examples -> {out} ({summary['seconds']} s)")
    table.add_column("difficulty")
    table.add_column("count", justify="right")
    for k, v in summary["difficulty"].items():
        table.add_row(k, str(v))
    Console().print(table)
