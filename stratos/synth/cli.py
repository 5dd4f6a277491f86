"""``stratos synth <task>``: synthesise a dataset of questions with known, verified answers.

Generic over every registered task (``stratos.tasks.get_task``); a task defined
outside Stratos is loaded with ``--task-module`` (a module name or a ``.py``
file that calls ``register_task``).

Output: JSONL, one object per line, with these fields:

=============  ============================================================
``id``         unique within the file (``<task>-<mode>-<seed>-<n>``)
``question``   the task's question
``answer``     the verified answer
``difficulty`` the task's difficulty label
``source``     ``reverse`` or ``forward``
``rationale``  a verified step-by-step solution ending in the answer line,
               or null with ``--rationale none``
``class``      the task's class of the question (``Task.class_of``)
``split``      ``train`` / ``val`` / ``test`` (``Task.splits``: a question
               never appears in two splits)
``meta``       task-specific extras
=============  ============================================================

plus the task's own names for question and answer (``record_aliases``,
the fields ``stratos eval`` may read). Every row is checked with the task's
``check`` and ``check_rationale`` before it is written; a failing row aborts
the run. The task's generation controls are flags (``Task.controls``).
"""

from __future__ import annotations

import dataclasses
import json
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
from stratos.io import atomic_open
from stratos.tasks.base import Example, Task, get_task
from stratos.tasks.loading import load_task_module


class SynthesisError(StratosError):
    """A synthesised row failed its task's checker (a bug in the task's generator or rationale)."""


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


def task_flags(task: Task, args: list[str]) -> dict[str, Any]:
    """The task's own controls given as flags: ``--name VALUE``, ``--flag`` (true), ``--no-flag``.

    Values are read as JSON when they parse (``3``, ``true``); a flag the task does not
    declare (``Task.controls``) is refused with the list of those it does.
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.removeprefix("--").replace("-", "_")
        negated = name.startswith("no_") and name[3:] in task.controls
        key = name[3:] if negated else name
        if not arg.startswith("--") or key not in task.controls:
            offered = ", ".join(f"--{k.replace('_', '-')} ({h})" for k, h in task.controls.items()) or "none"
            raise ConfigError(f"unknown option {arg!r} for task {task.name}; its controls: {offered}")
        has_value = i + 1 < len(args) and not args[i + 1].startswith("--")
        if negated or not has_value:
            out[key] = not negated
            i += 1
            continue
        out[key] = _json_or_text(args[i + 1])
        i += 2
    return out


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def to_record(task: Task, ex: Example, split: str | None) -> dict[str, Any]:
    """One JSONL row: the Example's fields, its class, the task's aliases, and the split."""
    row = asdict(ex)
    row["class"] = task.class_of(ex)
    for alias, field in task.record_aliases.items():
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
    errors = task.check_rationale(ex.question, ex.rationale)
    if errors:
        raise SynthesisError(f"{ex.id}: rationale fails its checker: {'; '.join(errors[:3])}")


def synth(
    ctx: typer.Context,
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
    control: list[str] = typer.Option(
        [], "--control", "-c", help="Any task control as KEY=VALUE (repeatable)."
    ),
    task_module: str | None = typer.Option(
        None, help="Module or .py file that registers a custom task."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Synthesise a task dataset (JSONL) with known, verified answers and rationales.

    The task's own controls are flags too (``--NAME VALUE``, ``--FLAG``, ``--no-FLAG``);
    an unknown one is refused with the list the task offers.
    """
    if mode not in ("reverse", "forward"):
        raise ConfigError(f"--mode {mode!r}: use reverse or forward")
    if rationale not in ("short", "full", "none"):
        raise ConfigError(f"--rationale {rationale!r}: use short, full or none")
    if task_module:
        load_task_module(task_module)
    task = get_task(task_name)
    controls = {**parse_controls(control), **task_flags(task, list(ctx.args))}
    console = Console(stderr=True)
    t0 = time.perf_counter()
    try:
        with console.status(f"generating {n} {mode} {task.name} examples"):
            items = task.generate(n, seed, mode, **controls)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{task.name} could not generate: {exc}") from exc
    splits_of = {e.id: name for name, part in task.splits(items).items() for e in part}
    write_verified(task, items, rationale, splits_of, out, console)
    summary = {
        "task": task.name,
        "mode": mode,
        "n": len(items),
        "seed": seed,
        "out": str(out),
        "seconds": round(time.perf_counter() - t0, 3),
        "difficulty": dict(sorted(Counter(e.difficulty for e in items).items())),
        "class": task.class_counts(items),
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


def write_verified(
    task: Task, items: list[Example], rationale: str, splits_of: dict[str, str], out: Path, console: Console
) -> None:
    """Attach rationales, check every row, and write the file whole or not at all."""
    with Progress(console=console, transient=True) as progress, atomic_open(out) as f:
        bar = progress.add_task("verifying and writing", total=len(items))
        for ex in items:
            if rationale != "none":
                ex = dataclasses.replace(ex, rationale=task.rationale(ex.question, ex.answer, rationale))
            verify(task, ex)
            f.write(json.dumps(to_record(task, ex, splits_of.get(ex.id)), sort_keys=True) + "\n")
            progress.advance(bar)
