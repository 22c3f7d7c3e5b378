"""``python -m bastion.tools.scan``: the scan command without the main CLI (used by hooks)."""

from __future__ import annotations

import typer

from .cli import scan_command


def main() -> None:
    """Run ``scan_command`` as a standalone typer application."""
    app = typer.Typer(add_completion=False)
    app.command()(scan_command)
    app()


if __name__ == "__main__":
    main()
