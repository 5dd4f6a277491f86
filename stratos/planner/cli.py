"""CLI for ``stratos plan``: request (YAML or Pulumi stack file) -> plan, front, baselines.

``--json`` prints the architecture's contract object; otherwise a rich table of the Pareto
front and the chosen plan's reasons. Errors (bad key, unknown name, infeasible, no catalog)
are ``StratosError``s that ``stratos.cli`` turns into a message and exit code (2 for
config/infeasible).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def plan(
    config: Annotated[Path, typer.Option("--config", help="Request YAML or stacks/Pulumi.<stack>.yaml.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract JSON object.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG of the front (cost vs latency).")] = None,
    catalog: Annotated[
        str | None, typer.Option("--catalog", help="SkyPilot catalog tree (default $STRATOS_CATALOG_DIR).")
    ] = None,
    top: Annotated[int, typer.Option(help="Rows of the front to show in the table.")] = 15,
    emit_sky: Annotated[
        Path | None, typer.Option("--emit-sky", help="Write a SkyPilot task YAML for the chosen training offering.")
    ] = None,
) -> None:
    """Choose where to train and serve, teacher, student and mode; show the Pareto front."""
    from stratos.planner.search import make_plan
    from stratos.spec import load_request

    request = load_request(config)
    result = make_plan(request, catalog)
    if plot is not None:
        from stratos.planner.plot import plot_front

        plot_front(result, plot)
    if emit_sky is not None:
        _emit_sky(result.chosen, emit_sky, quiet=as_json)
    if as_json:
        print(json.dumps(result.to_json()))
        return
    _print(result, top, plot)


def _emit_sky(plan, path: Path, quiet: bool) -> None:
    from stratos.exceptions import ConfigError
    from stratos.planner.sky_task import write_sky_task

    if plan.train.cloud == "local":
        raise ConfigError("--emit-sky: the plan trains on this machine (target: local); SkyPilot launches cloud "
                          "offerings, so plan with target: aws or gcp")
    plan_path = write_sky_task(plan, path)
    if not quiet:
        Console().print(f"SkyPilot task written to {path} (plan: {plan_path}); launch it with `sky launch {path}`")


def _print(result, top: int, plot: Path | None) -> None:
    console = Console()
    if not console.is_terminal:  # piped or captured: don't squeeze the table into 80 columns
        console = Console(width=max(console.width, 160))
    from stratos.planner.result import front_tolerance_text

    table = Table(title=f"Pareto front: {len(result.pareto)} representatives (within {front_tolerance_text()}) of "
                        f"{result.stats['pareto_exact']} exact, {result.stats['feasible']} feasible "
                        f"({result.stats['candidates']} evaluated), best score first")
    for col in ("score", "teacher", "student", "mode", "train", "serve", "cost $", "latency ms", "accuracy", "basis",
                "train h"):
        table.add_column(col, overflow="fold")

    def row(c, s, style=None):
        table.add_row(f"{s:.3f}", c.teacher, c.student, c.mode + (" +KD" if c.logit_kd else ""), c.train.label,
                      c.serve.label, f"{c.cost_usd:,.2f}", f"{c.latency_ms:,.0f}",
                      f"{c.accuracy:.1%} ({c.accuracy_low:.0%}-{c.accuracy_high:.0%})", c.accuracy_basis,
                      f"{c.train_hours:.2f}",
                      style=style)

    for c, s in list(zip(result.pareto, result.pareto_scores, strict=True))[:top]:
        row(c, s, "bold green" if c is result.chosen_candidate else None)
    console.print(table)
    base = Table(title="chosen vs single-objective baselines (same constraints)")
    for col in ("plan", "score", "student", "teacher", "cost $", "latency ms", "accuracy", "basis", "train h"):
        base.add_column(col)
    items = [("chosen", result.chosen_candidate, result.chosen_score)] + [
        (k, result.baseline_candidates[k], result.baseline_scores[k]) for k in ("accuracy_first", "cost_first")
    ]
    for name, c, s in items:
        base.add_row(name, f"{s:.3f}", c.student, c.teacher, f"{c.cost_usd:,.2f}", f"{c.latency_ms:,.0f}",
                     f"{c.accuracy:.1%}", c.accuracy_basis, f"{c.train_hours:.2f}")
    console.print(base)
    p = result.chosen
    console.print(f"[bold]chosen:[/] {p.student} <- {p.teacher} ({p.mode}); train {p.train.label}; serve "
                  f"{p.serve.label}; total ${p.cost.total_usd:,.2f}")
    for r in p.reasons:
        console.print(f"  - {r}")
    console.print("[bold]matching rules:[/]")
    for r in result.rules[:4]:
        console.print(f"  - {r}")
    if plot is not None:
        console.print(f"plot written to {plot}")
