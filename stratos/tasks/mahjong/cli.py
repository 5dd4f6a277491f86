"""CLI for `stratos mahjong ...` (lands with the Mahjong issue)."""

from __future__ import annotations

import typer

from stratos.exceptions import NotAvailableError

mahjong_app = typer.Typer(no_args_is_help=True)


@mahjong_app.command("solve")
def solve(hand: str) -> None:
    """Not built yet."""
    raise NotAvailableError("`stratos mahjong solve` is not yet available (see the Mahjong issue).")
