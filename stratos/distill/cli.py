"""CLI for `stratos distill` (lands with the distillation issue)."""

from __future__ import annotations

from stratos.exceptions import NotAvailableError


def distill() -> None:
    """Not built yet."""
    raise NotAvailableError("`stratos distill` is not yet available (see the distillation issue).")
