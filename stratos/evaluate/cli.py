"""CLI for ``stratos eval``: score a model dir or an endpoint on a task's questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table


def adopt_file_labels(task: Any, path: Path) -> None:
    """A task without references is judged against the labels in the questions file (``answer``:
    a run's ``data/test.jsonl`` holds the teacher's majority answers), so accuracy is agreement with them."""
    from stratos.exceptions import ConfigError
    from stratos.synth.dataset import read_jsonl

    try:
        labelled = [e for e in read_jsonl(path) if e.answer is not None]
    except (ValueError, KeyError, TypeError):
        labelled = []
    if not labelled:
        raise ConfigError(
            f"task {task.name!r} has no reference answers, and {path} gives none; pass a run's data/test.jsonl "
            "(its answers are the teacher's labels) to measure agreement with the teacher"
        )
    task.adopt_labels(labelled)


def eval_cmd(
    model: Annotated[
        str, typer.Option("--model", help="Model dir (served locally for the run) or endpoint URL.")
    ],
    questions: Annotated[Path, typer.Option("--questions", help="JSONL, one question per line.")],
    task: Annotated[str, typer.Option("--task", help="Registered task name.")] = "mahjong",
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Take the task from this request or stack file (a dataset task, a taskModule)."),
    ] = None,
    task_module: Annotated[
        str | None, typer.Option("--task-module", help="Module or .py file that registers the task.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 8,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Completion cap per question.")
    ] = 256,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="Bearer token for a URL (else $STRATOS_API_TOKEN)."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="torch threads for a locally served dir.")
    ] = None,
    device: Annotated[
        str, typer.Option(help="Where a locally served dir runs: auto (CUDA when present), cpu, cuda, cuda:N.")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Accuracy (the task's own checker), latency p50/p95/p99, throughput and errors."""
    from stratos.evaluate.runner import evaluate, read_questions
    from stratos.serve.auth import load_token
    from stratos.spec import load_request
    from stratos.tasks.loading import TaskRef

    ref = load_request(config).task_ref if config is not None else TaskRef(name=task, module=task_module)
    the_task = ref.load()
    items = read_questions(questions, the_task)
    if not the_task.has_references:
        adopt_file_labels(the_task, questions)
    secret = load_token(token_file)
    # On stderr, so `--json` keeps stdout to the one JSON object; gone once finished.
    with Progress(console=Console(stderr=True), transient=True) as bar:
        asked = bar.add_task(f"{len(items)} questions", total=len(items))
        report = evaluate(
            model,
            the_task,
            items,
            token=secret.get_secret_value() if secret else None,
            concurrency=concurrency,
            max_tokens=max_tokens,
            threads=threads,
            on_reply=lambda _reply: bar.advance(asked),
            device=device,
        )
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    table = Table(title=f"{report.task} on {report.model} ({report.endpoint})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("accuracy", f"{report.accuracy:.1%} ({report.correct}/{report.n})")
    for level, row in report.by_class.items():
        table.add_row(f"  {level}", f"{row.accuracy:.1%} (n={row.n})")
    if report.mix_accuracy is not None:
        table.add_row("evaluation mix", f"{report.mix_accuracy:.1%}")
    lat = report.latency.model_dump() if report.latency else {}
    for q in ("p50_ms", "p95_ms", "p99_ms"):
        table.add_row(f"latency {q[:3]}", f"{lat[q]:.0f} ms" if lat.get(q) is not None else "-")
    table.add_row(
        "throughput",
        f"{report.throughput_rps:.2f} req/s, {report.tokens_per_s or 0:.1f} tok/s",
    )
    table.add_row("errors", str(report.errors))
    Console().print(table)
