"""``bastion admin …`` (accounts and their tokens) and ``bastion audit export``.

They work on the configured database directly (as ``bastion keys`` does), so the
first admin account can be made before anyone can sign in. Every change is
audited with the actor ``cli:<operating-system user>``.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer

from bastion.core.errors import GatewayError
from bastion.identity.accounts import Accounts
from bastion.identity.audit import AdminAudit, parse_when, to_csv, to_jsonl
from bastion.identity.roles import ROLES, Role

T = TypeVar("T")
admin_app = typer.Typer(help="Admin accounts (roles: admin, operator, reviewer, viewer) "
                             "and their API tokens.", no_args_is_help=True,
                        pretty_exceptions_show_locals=False)
audit_app = typer.Typer(help="The audit log of admin actions.", no_args_is_help=True,
                        pretty_exceptions_show_locals=False)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config file (YAML)")]
RoleOpt = Annotated[Literal["admin", "operator", "reviewer", "viewer"],
                    typer.Option(help=" | ".join(ROLES))]
StdinOpt = Annotated[bool, typer.Option("--password-stdin",
                                        help="read the password from standard input")]


@dataclass(slots=True)
class _Parts:
    accounts: Accounts
    audit: AdminAudit
    actor: str


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli:unknown"


def _run(config: Path | None, fn: Callable[[_Parts], Awaitable[T]]) -> T:
    from bastion.cli import _settings  # bastion.cli imports this module: import when run
    from bastion.identity.account_store import AccountStore
    from bastion.keys import KeyService
    from bastion.stores.audit import AuditLog
    from bastion.stores.base import open_database

    settings = _settings(config)

    async def run() -> T:
        db = open_database(settings.state.database,
                           "upgrade" if settings.state.auto_migrate else "check")
        await db.open()
        try:
            keys = KeyService(db)
            accounts = Accounts(AccountStore(db), keys.hash_key, settings.auth.admin, 0.0)
            return await fn(_Parts(accounts, AdminAudit(AuditLog(db), keys.hash_key),
                                   _actor()))
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except GatewayError as e:  # a bad name, a short password: a sentence, not a traceback
        typer.echo(e.message, err=True)
        raise typer.Exit(1) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@admin_app.command("create")
def create(name: Annotated[str, typer.Option(prompt=True, help="the account's name")],
           role: RoleOpt, password_stdin: StdinOpt = False, config: ConfigOpt = None) -> None:
    """Create an admin account (Argon2id-hashed password)."""
    password = _password(password_stdin)

    async def go(p: _Parts) -> None:
        acc = await p.accounts.create(name, role, password)
        await p.audit.record(p.actor, "account.create", "account:" + acc.name, source="cli",
                             role=acc.role)

    _run(config, go)
    typer.echo(f"created {role} account {name.strip().lower()}")


@admin_app.command("list")
def list_accounts(config: ConfigOpt = None,
                  as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List admin accounts."""
    accounts = _run(config, lambda p: p.accounts.all())
    if as_json:
        typer.echo(json.dumps([a.view() for a in accounts], indent=2))
        return
    for a in accounts:
        typer.echo(f"{a.name:<30} {a.role:<9} {'disabled' if a.disabled_at else 'active'}")


def _update(config: Path | None, name: str, action: str, **change: object) -> None:
    async def go(p: _Parts) -> None:
        acc = await p.accounts.update(name, **change)  # type: ignore[arg-type]
        shown = {k: v for k, v in change.items() if k != "password"}
        await p.audit.record(p.actor, action, "account:" + acc.name, source="cli",
                             password_changed="password" in change, **shown)

    _run(config, go)


@admin_app.command("set-role")
def set_role(name: str, role: Annotated[Role, typer.Argument(help=" | ".join(ROLES))],
             config: ConfigOpt = None) -> None:
    """Change an account's role (its tokens narrow with it)."""
    _update(config, name, "account.update", role=role)
    typer.echo(f"{name} is now {role}")


@admin_app.command("disable")
def disable(name: str, config: ConfigOpt = None) -> None:
    """Disable an account and revoke its sessions and tokens."""
    _update(config, name, "account.disable", disabled=True)
    typer.echo(f"disabled {name}")


@admin_app.command("enable")
def enable(name: str, config: ConfigOpt = None) -> None:
    """Enable a disabled account again (its old tokens stay revoked)."""
    _update(config, name, "account.update", disabled=False)
    typer.echo(f"enabled {name}")


@admin_app.command("password")
def password(name: str, password_stdin: StdinOpt = False, config: ConfigOpt = None) -> None:
    """Set an account's password (its sessions and tokens are revoked)."""
    _update(config, name, "account.password", password=_password(password_stdin))
    typer.echo(f"password of {name} changed")


@admin_app.command("token")
def token(name: str, role: Annotated[Role | None, typer.Option(
              help="scope it to a role the account holds")] = None,
          expires: Annotated[str | None, typer.Option(help="e.g. 90d, 12h")] = None,
          label: Annotated[str | None, typer.Option(help="what it is for")] = None,
          config: ConfigOpt = None) -> None:
    """Mint an admin API token for an account and print it once."""
    from bastion.cli import parse_duration

    ttl = parse_duration(expires) if expires else None

    async def go(p: _Parts) -> str:
        new = await p.accounts.mint(await p.accounts.get(name), role=role, ttl_s=ttl,
                                    label=label)
        await p.audit.record(p.actor, "token.create", new.record.id, source="cli",
                             account=new.record.account, role=new.record.role,
                             expires_at=new.record.expires_at)
        typer.echo(f"id: {new.record.id} ({new.record.role}, account {new.record.account})",
                   err=True)
        return new.token

    typer.echo("token (shown once, store it now):", err=True)
    typer.echo(_run(config, go))


@admin_app.command("revoke-token")
def revoke_token(token_id: str, config: ConfigOpt = None) -> None:
    """Revoke an admin session or API token by its id."""
    async def go(p: _Parts) -> None:
        rec = await p.accounts.revoke(token_id)
        await p.audit.record(p.actor, "token.revoke", rec.id, source="cli")

    _run(config, go)
    typer.echo(f"revoked {token_id}")


@audit_app.command("export")
def export(
    since: Annotated[str | None, typer.Option(help="7d, 12h, an ISO time or epoch")] = None,
    until: Annotated[str | None, typer.Option(help="same forms as --since")] = None,
    actor: Annotated[str | None, typer.Option(help="e.g. account:alice, master-key")] = None,
    action: Annotated[str | None, typer.Option(help="a prefix, e.g. key. or user.erase")
                      ] = None,
    user: Annotated[str | None, typer.Option(
        help="entries about this data subject (matched by its keyed hash)")] = None,
    fmt: Annotated[Literal["jsonl", "csv", "json"], typer.Option("--format")] = "jsonl",
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100_000,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    config: ConfigOpt = None,
) -> None:
    """Export the audit log (oldest first)."""
    async def go(p: _Parts) -> str:
        entries = await p.audit.export(
            since=parse_when(since, "since"), until=parse_when(until, "until"), actor=actor,
            action=action, limit=limit, target=await p.audit.user_ref(user) if user else None)
        await p.audit.record(p.actor, "audit.export", source="cli", entries=len(entries),
                             format=fmt)
        if fmt == "csv":
            return to_csv(entries)
        if fmt == "json":
            return json.dumps([e.as_dict() for e in entries], indent=2) + "\n"
        return to_jsonl(entries)

    text = _run(config, go)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
    else:
        typer.echo(text, nl=False)
