"""CLI for `stratos plan` (lands with the planner issue)."""

from __future__ import annotations

from stratos.exceptions import NotAvailableError


def plan() -> None:
    """Not built yet."""
    raise NotAvailableError("`stratos plan` is not yet available (see the planner issue).")
