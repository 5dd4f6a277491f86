"""``python -m stratos.distill`` (what ``torchrun`` runs): the ``stratos distill`` command."""

import typer

from stratos.distill.cli import distill

if __name__ == "__main__":
    typer.run(distill)
