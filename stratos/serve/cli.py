"""CLI for `stratos serve` (lands with the serving/evaluation issue)."""

from __future__ import annotations

from stratos.exceptions import NotAvailableError


def serve() -> None:
    """Not built yet."""
    raise NotAvailableError("`stratos serve` is not yet available (see the serving/evaluation issue).")
