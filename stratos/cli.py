"""``stratos``: the command line. Each subcommand lives beside the code it drives
(``stratos/<subsystem>/cli.py``); this module only assembles them and turns
``StratosError`` into a readable message and an exit code.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from stratos.distill.cli import distill
from stratos.evaluate.cli import eval_cmd
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
app.command("distill", help="Run the distillation job for a request or plan.")(distill)
app.command("serve", help="Serve a model dir behind an OpenAI-compatible API.")(serve)
app.command("eval", help="Score a model dir or endpoint on task questions.")(eval_cmd)
app.command("report", help="Summarise a finished run (metrics, curves, cost).")(report)
app.add_typer(mahjong_app, name="mahjong", help="The Mahjong reference task: solve hands.")


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
