"""``stratos``: the command line. Each subcommand lives beside the code it drives
(``stratos/<subsystem>/cli.py``); this module only assembles them and turns
``StratosError`` into a readable message and an exit code.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from stratos.catalog.cli import gpus
from stratos.distill.cli import distill
from stratos.evaluate.cli import eval_cmd
from stratos.hub.cli import push
from stratos.planner.cli import plan
from stratos.report_cli import report
from stratos.serve.cli import serve
from stratos.synth.cli import synth
from stratos.tasks.mahjong.cli import mahjong_app

app = typer.Typer(
    name="stratos",
    help="Infrastructure-as-code for LLM distillation: plan, synthesise, distil, serve, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("plan", help="Choose GPUs, teacher, student and mode; show the Pareto front and cost.")(plan)
app.command(
    "synth",
    help="Synthesise a task dataset (JSONL) with known answers.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},  # the task's own flags
)(synth)
app.command("gpus", help="List accelerators, counts and prices from the catalog (like `sky show-gpus`).")(gpus)
app.command("distill", help="Run the distillation job for a request or plan.")(distill)
app.command("serve", help="Serve a model dir behind an OpenAI-compatible API.")(serve)
app.command("eval", help="Score a model dir or endpoint on task questions.")(eval_cmd)
app.command("report", help="Summarise a finished run (metrics, curves, cost).")(report)
app.command("push", help="Push a finished run (model card, training set) to the Hugging Face Hub.")(push)
app.add_typer(mahjong_app, name="mahjong", help="The Mahjong reference task: solve hands.")


def _version(value: bool) -> None:
    if value:
        from stratos import __version__  # the one version string (pyproject reads it too)

        typer.echo(f"stratos {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Infrastructure-as-code for LLM distillation: plan, synthesise, distil, serve, evaluate."""


@app.command("keys")
def keys() -> None:
    """List every stack-config / request key with its type, default and unit."""
    from rich.table import Table

    from stratos.spec import STACK_KEYS

    table = Table("key", "type", "default", "meaning (unit)", title="stack config keys (stratos:<key>)")
    for key in STACK_KEYS:
        rows = [] if key["type"] == "object" else [(key["name"], key)]
        rows += [(f"{key['name']}.{p['name']}", p) for p in key.get("properties") or []]
        for name, entry in rows:
            table.add_row(name, entry["type"], "-" if entry["default"] is None else str(entry["default"]), entry["description"])
    Console().print(table)


def main() -> None:
    """Console entry point: run the app, mapping Stratos errors to exit codes."""
    from stratos.exceptions import StratosError

    try:
        app()
    except StratosError as exc:
        from rich.markup import escape

        # soft_wrap: one error, one line (rich must not break it up); escape: messages hold [lists].
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
