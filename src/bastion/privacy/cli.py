"""``bastion users export|delete USER`` and ``bastion pia``: the same data-subject service
and report the admin API uses, from the command line (no server needed)."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar, cast

import typer

from bastion.config.settings import Settings

T = TypeVar("T")
users_app = typer.Typer(help="Data-subject requests: export or erase what is held about a user.",
                        no_args_is_help=True, pretty_exceptions_show_locals=False)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config file (YAML)")]


def _settings(config: Path | None) -> Settings:
    # The CLI's one loader (it prints the problem and exits 2); imported here because
    # bastion.cli imports this module.
    from bastion.cli import _settings as load

    return load(config)


def _with_gateway(config: Path | None, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(gateway)`` on a gateway built from the config: its stores, not its server."""
    from bastion.app import Gateway
    from bastion.observe.logging import configure_logging

    settings = _settings(config)
    # stdout carries the command's output (JSON); the gateway's log lines go to stderr.
    configure_logging(level="warning", stream=cast("TextIO", _Stderr()))

    async def run() -> T:
        gw = Gateway(settings)
        await gw.start()
        try:
            return await fn(gw)
        finally:
            await gw.close()

    return asyncio.run(run())


class _Stderr(io.TextIOBase):
    """Whatever ``sys.stderr`` is when a line is written (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


async def _audited(gw: Any, action: str, user: str,
                   work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` and record it in the audit log as the admin API would (counts only,
    the user by its keyed reference)."""
    result = await work
    counts = result.get("deleted") or {k: len(v) for k, v in result.items()
                                       if isinstance(v, list)}
    audit = gw.admins.audit
    await audit.record("cli", action, await audit.user_ref(user), source="cli", **counts)
    return result


@users_app.command("export")
def export(user: str, config: ConfigOpt = None,
           out: Annotated[Path | None, typer.Option(help="write JSON here (default: stdout)")]
           = None) -> None:
    """Everything held about USER, as JSON (keys, usage, stored bodies, cache, counters)."""
    data = _with_gateway(config, lambda gw: _audited(
        gw, "user.export", user, gw.privacy.subjects.export(user)))
    text = json.dumps(data, indent=2, default=str)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"wrote {out}", err=True)


@users_app.command("delete")
def delete(user: str, config: ConfigOpt = None,
           yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Erase everything held about USER in every store (recorded in the audit log)."""
    if not yes:
        typer.confirm(f"Erase everything held about {user!r}? This cannot be undone", abort=True)
    done = _with_gateway(config, lambda gw: _audited(
        gw, "user.erase", user, gw.privacy.subjects.erase(user)))
    typer.echo(json.dumps(done, indent=2))


def pia(config: ConfigOpt = None,
        out: Annotated[Path, typer.Option(help="Markdown file; the HTML goes beside it")]
        = Path("privacy-impact-assessment.md"),
        since_days: Annotated[float, typer.Option("--since-days", min=0.01,
                                                  help="traffic window")] = 30.0) -> None:
    """Write the privacy impact assessment (Markdown and self-contained HTML)."""
    from bastion.privacy.report import build_report
    from bastion.stores.base import open_database

    settings = _settings(config)

    async def run() -> tuple[str, str]:
        db = open_database(settings.state.database)
        await db.open()
        try:
            return await build_report(settings, db, since_days)
        finally:
            await db.close()

    md, page = asyncio.run(run())
    out.write_text(md)
    html_path = out.with_suffix(".html")
    html_path.write_text(page)
    typer.echo(f"wrote {out} and {html_path}")
