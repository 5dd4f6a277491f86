"""``python -m stratos.serve ...``: the same options as ``stratos serve`` (what deployments launch)."""

from __future__ import annotations

import sys

import typer

from stratos.exceptions import StratosError
from stratos.serve.cli import serve


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(serve)
    try:
        app()
    except StratosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
