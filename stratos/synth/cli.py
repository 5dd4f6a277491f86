"""CLI for `stratos synth` (lands with the Mahjong issue)."""

from __future__ import annotations

from stratos.exceptions import NotAvailableError


def synth() -> None:
    """Not built yet."""
    raise NotAvailableError("`stratos synth` is not yet available (see the Mahjong issue).")
