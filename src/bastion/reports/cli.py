"""``bastion usage``: the cost and usage report from the command line.

    bastion usage --csv --since 30d --group-by key,day --out usage.csv
    bastion usage --group-by alias              # a table for people

Registered on the main CLI as the ``usage`` command. Works on the database directly
(the same numbers as ``GET /admin/reports/usage`` and the dashboard's reports page).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bastion.config.loader import ConfigError, load_settings
from bastion.core.errors import GatewayError

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config file (YAML)")]


def _table(report: object) -> str:
    from bastion.reports.usage import METRICS, Report

    assert isinstance(report, Report)
    head = [*report.group_by, *METRICS]
    rows = [[str(r[d] or "-") for d in report.group_by]
            + [f"{r[m]:.4f}" if m == "cost_usd" else str(r[m]) for m in METRICS]
            for r in report.rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    t = report.totals()
    lines.append(f"total: {t['requests']} requests, {t['errors']} errors, "
                 f"${t['cost_usd']:.4f}")
    return "\n".join(lines)


def usage(
    config: ConfigOpt = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on standard output")] = False,
    since: Annotated[str | None, typer.Option(help="30d, 12h, an ISO date or epoch "
                                              "seconds")] = None,
    until: Annotated[str | None, typer.Option(help="same forms as --since")] = None,
    group_by: Annotated[str, typer.Option(
        "--group-by", help="comma-separated: key, user, team, alias, model, provider, "
        "day")] = "key",
    out: Annotated[Path | None, typer.Option("--out", help="write to this file")] = None,
) -> None:
    """Cost and usage per key, user, team, alias, model, provider or day."""
    from bastion.identity.audit import parse_when
    from bastion.reports.usage import parse_group_by, to_csv, usage_report
    from bastion.stores.base import open_database

    try:
        settings = load_settings(config)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None

    async def run() -> str:
        dims = parse_group_by(group_by)
        start, end = parse_when(since, "since"), parse_when(until, "until")
        db = open_database(settings.state.database,
                           "upgrade" if settings.state.auto_migrate else "check")
        await db.open()
        try:
            report = await usage_report(db, dims, start, end, limit=100_000)
        finally:
            await db.close()
        return to_csv(report) if as_csv else _table(report)

    try:
        text = asyncio.run(run())
    except GatewayError as e:
        typer.echo(e.message, err=True)
        raise typer.Exit(2) from None
    if out is not None:
        out.write_text(text if as_csv else text + "\n", encoding="utf-8")
    else:
        typer.echo(text, nl=not as_csv)
