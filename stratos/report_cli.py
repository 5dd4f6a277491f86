"""CLI for `stratos report` (lands with the distillation issue)."""

from __future__ import annotations

from stratos.exceptions import NotAvailableError


def report() -> None:
    """Not built yet."""
    raise NotAvailableError("`stratos report` is not yet available (see the distillation issue).")
