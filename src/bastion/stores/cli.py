"""``bastion db status`` and ``bastion db upgrade``: the schema's migrations by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bastion.config.loader import ConfigError, load_settings

db_app = typer.Typer(help="See and apply the database's schema migrations.",
                     no_args_is_help=True, pretty_exceptions_show_locals=False)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config file (YAML)")]


def _run(config: Path | None, apply: bool) -> str:
    from bastion.stores.base import open_database
    from bastion.stores.migrations import SchemaError

    try:
        settings = load_settings(config)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None

    async def run() -> str:
        db = open_database(settings.state.database, on_open="skip")
        await db.open()
        try:
            before = await db.schema_status()
            if not apply:
                return before.describe()
            await db.upgrade()  # a schema newer than this code: SchemaTooNew, a sentence
            after = await db.schema_status()
            done = [f"applied {m.version}: {m.name}" for m in before.pending]
            return "\n".join([*done, after.describe()])
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except SchemaError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None


@db_app.command("status")
def status(config: ConfigOpt = None) -> None:
    """Print the schema version and the migrations that are pending (changes nothing)."""
    typer.echo(_run(config, apply=False))


@db_app.command("upgrade")
def upgrade(config: ConfigOpt = None) -> None:
    """Apply every pending migration, under a lock (safe while replicas run)."""
    typer.echo(_run(config, apply=True))
