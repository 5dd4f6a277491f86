"""CLI for ``stratos push RUN_DIR --repo ORG/NAME``: a finished run to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def push(
    run_dir: Annotated[Path, typer.Argument(help="the --out dir of a finished `stratos distill` (or its artifact/ dir)")],
    repo: Annotated[str, typer.Option("--repo", help="model repo id, ORG/NAME (created if missing)")],
    dataset_repo: Annotated[
        str | None, typer.Option("--dataset-repo", help="dataset repo for the training set; default ORG/NAME-data")
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="create the repos private")] = False,
) -> None:
    """Push the model (with a complete model card) and its training set (messages format) to the Hub."""
    from stratos.hub.push import push_run

    pushed = push_run(run_dir, repo, dataset_repo=dataset_repo, private=private)
    console = Console()
    console.print(f"model:   {pushed.model_url}")
    if pushed.dataset_url:
        console.print(f"dataset: {pushed.dataset_url}")
