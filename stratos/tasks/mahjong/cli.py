"""``stratos mahjong ...``: solve a hand from the command line, print the rules text."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from stratos.exceptions import ConfigError

mahjong_app = typer.Typer(no_args_is_help=True)


def _rules(name: str):  # noqa: ANN202 - Typer callback helper
    from stratos.tasks.mahjong.solver import Rules

    try:
        return Rules.from_name(name)
    except ValueError as exc:
        raise ConfigError(
            f"{exc}. Pass --rules standard|seven-pairs|thirteen-orphans|all."
        ) from exc


@mahjong_app.command("solve")
def solve(
    hand: str = typer.Argument(
        ..., help="13 tiles in mpsz notation, e.g. '1112345678999m' or '1m 1m 2m ...'."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    rules: str = typer.Option("standard", help="standard | seven-pairs | thirteen-orphans | all."),
    rationale: str = typer.Option(
        "none", help="Also print the step-by-step solution: short | full | none."
    ),
) -> None:
    """Which tiles complete this hand? Prints the waits (and, on request, the worked solution)."""
    from stratos.tasks.mahjong.rationale import write_rationale
    from stratos.tasks.mahjong.solver import winning_tiles
    from stratos.tasks.mahjong.tiles import canonical_hand, parse_counts

    r = _rules(rules)
    try:
        parse_counts(hand, 13)
        waits = winning_tiles(hand, r)
        text = write_rationale(hand, rationale, r) if rationale != "none" else None
    except ValueError as exc:
        raise ConfigError(f"{exc}. Give exactly 13 tiles like '123m456p789s1122z'.") from exc
    canon = canonical_hand(hand, 13)
    if as_json:
        out = {"hand": canon, "waits": waits, "ready": bool(waits), "rules": r.name}
        if text is not None:
            out["rationale"] = text
        typer.echo(json.dumps(out))
        return
    console = Console(highlight=False)
    if text is not None:
        console.print(text)
    else:
        console.print(f"{canon}: " + (" ".join(waits) if waits else "not ready (no winning tiles)"))


@mahjong_app.command("knowledge")
def knowledge_cmd(
    rules: str = typer.Option("standard", help="standard | seven-pairs | thirteen-orphans | all."),
) -> None:
    """Print the rules text given to models (knowledge injection)."""
    from stratos.tasks.mahjong.knowledge import knowledge

    typer.echo(knowledge(_rules(rules)))
