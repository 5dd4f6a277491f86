"""CLI for `stratos eval` (lands with the serving/evaluation issue)."""

from __future__ import annotations

from stratos.exceptions import NotAvailableError


def eval_cmd() -> None:
    """Not built yet."""
    raise NotAvailableError("`stratos eval` is not yet available (see the serving/evaluation issue).")
