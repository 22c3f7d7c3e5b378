"""The ``bastion`` command line."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bastion.config.loader import ConfigError, load_settings
from bastion.config.settings import Settings
from bastion.core.errors import GatewayError
from bastion.identity.cli import admin_app, audit_app
from bastion.privacy.cli import pia, users_app
from bastion.reports.cli import usage
from bastion.stores.cli import db_app

T = TypeVar("T")
# pretty_exceptions_show_locals=False: a traceback must never print a secret held in a local.
app = typer.Typer(help="Bastion: a self-hosted AI API gateway.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False)
keys_app = typer.Typer(help="Create, list, revoke and rotate virtual keys.",
                       no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")
app.command("usage")(usage)
app.add_typer(users_app, name="users")
app.command("pia")(pia)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config file (YAML)")]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90``, ``30s``, ``15m``, ``1h``, ``30d``, ``2w`` → seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise typer.BadParameter(f"{text!r} is not a duration like 30d, 12h or 15m")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None


def _with_keys(config: Path | None, fn: Callable[[Any], Awaitable[T]]) -> T:
    from bastion.keys import KeyService, key_hash_source
    from bastion.stores.base import open_database

    settings = _settings(config)

    async def run() -> T:
        db = open_database(settings.state.database,
                           "upgrade" if settings.state.auto_migrate else "check")
        await db.open()
        try:
            return await fn(KeyService(db, secret=key_hash_source(settings)))
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except GatewayError as e:  # e.g. no such key: a sentence, not a traceback
        typer.echo(e.message, err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8787)")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Run the gateway."""
    from bastion.reload import ConfigSource
    from bastion.server import PortInUse
    from bastion.server import serve as run_server

    if config is None and Path("bastion.yaml").is_file():
        config = Path("bastion.yaml").resolve()  # what SIGHUP re-reads, wherever the cwd
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items()
                 if v is not None}
    source = ConfigSource(config, overrides)
    try:
        settings = source.load()
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    try:
        run_server(settings, source)
    except PortInUse as e:
        typer.echo(f"bastion: {e}", err=True)
        raise typer.Exit(1) from None


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port for the demo gateway (0: any free)")] = 8787,
    serve: Annotated[bool, typer.Option(help="keep serving after the walk-through")] = True,
) -> None:
    """Run the gateway on the fake provider and walk through what it protects against."""
    from bastion.demo import run_demo
    from bastion.server import port_free

    if port and not port_free("127.0.0.1", port):
        typer.echo(f"Port {port} is taken; the demo uses a free port instead.", err=True)
        port = 0
    raise typer.Exit(run_demo(typer.echo, serve=serve, port=port))


@app.command("check-config")
def check_config(
    file: Annotated[Path | None, typer.Argument(help="config file")] = None,
    strict: Annotated[bool, typer.Option(help="fail on warnings too (e.g. a provider key "
                                                "reference that does not resolve)")] = False,
) -> None:
    """Validate a config file and say what is wrong, with the line."""
    from bastion.config.check import secret_warnings

    try:
        settings = load_settings(file)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    warnings = secret_warnings(settings)
    for w in warnings:
        typer.echo(f"Warning: {w}", err=True)
    if strict and warnings:
        typer.echo(f"Not OK under --strict: {len(warnings)} warning(s).", err=True)
        raise typer.Exit(1)
    typer.echo(f"OK: {len(settings.providers)} providers, {len(settings.models)} models")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="a name people recognise")],
    user: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
    models: Annotated[str | None, typer.Option(help="comma-separated aliases")] = None,
    rpm: Annotated[int | None, typer.Option(min=1)] = None,
    tpm: Annotated[int | None, typer.Option(min=1)] = None,
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", min=0)] = None,
    expires: Annotated[str | None, typer.Option(help="e.g. 30d, 12h")] = None,
    act_for_users: Annotated[bool, typer.Option(
        "--act-for-users", help="the key may name its end user per request")] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a virtual key and print it once."""
    model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
    expires_s = parse_duration(expires) if expires else None
    new = _with_keys(config, lambda ks: ks.create(
        name, user=user, team=team, models=model_list, rpm=rpm, tpm=tpm,
        budget_usd=budget_usd, expires_in_s=expires_s, act_for_users=act_for_users))
    typer.echo(f"id:  {new.record.id}", err=True)
    typer.echo("key (shown once, store it now):", err=True)
    typer.echo(new.key)


@keys_app.command("list")
def keys_list(config: ConfigOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False
              ) -> None:
    """List keys (never their secrets) with budget, spend and expiry."""
    import dataclasses

    async def fetch(ks: Any) -> list[tuple[Any, Any]]:
        return [(r, await ks.db.usage_totals(r.id)) for r in await ks.list()]

    rows = _with_keys(config, fetch)
    if as_json:
        typer.echo(json.dumps([{**dataclasses.asdict(r), "spend_usd": round(t.spend_usd, 6),
                                "requests": t.requests} for r, t in rows], indent=2))
        return
    now = time.time()
    for r, t in rows:
        state = "revoked" if r.revoked_at else (
            "expired" if r.expires_at and r.expires_at <= now else "active")
        budget = f"${r.budget_usd:.2f}" if r.budget_usd is not None else "none"
        expires = (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(r.expires_at))
                   if r.expires_at else "never")
        typer.echo(f"{r.id}  {r.prefix}…  {r.name:<20} user={r.user or '-'} "
                   f"models={','.join(r.models) if r.models else '*'} budget={budget} "
                   f"spent=${t.spend_usd:.4f} expires={expires} {state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: ConfigOpt = None) -> None:
    """Revoke a key at once."""
    _with_keys(config, lambda ks: ks.revoke(key_id))
    typer.echo(f"revoked {key_id}")


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    grace: Annotated[str, typer.Option(help="how long the old key keeps working")] = "1h",
    config: ConfigOpt = None,
) -> None:
    """Issue a new secret for a key; the old one works for the grace period."""
    new = _with_keys(config, lambda ks: ks.rotate(key_id, parse_duration(grace)))
    typer.echo(f"new key for {key_id} (old key valid for {grace}):", err=True)
    typer.echo(new.key)


def _register_scan() -> None:
    import importlib.util

    if importlib.util.find_spec("bastion.tools.scan") is None:  # not built yet
        return
    from bastion.tools.scan.cli import scan_command

    app.command("scan", help="Find leaked AI provider keys in files, history and bundles.")(
        scan_command)


def _register_redteam() -> None:
    from bastion.tools.redteam.cli import redteam_command

    app.command("redteam", help="Run the adversarial suite against an OpenAI-compatible URL.")(
        redteam_command)


def main() -> None:
    _register_scan()
    _register_redteam()
    app(prog_name="bastion")


if __name__ == "__main__":
    main()
