"""``bastion scan`` command (typer).

Exit status: 0 clean, 1 findings, 2 usage error (bad path, conflicting
options, unreadable baseline, not a git repository).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from .api import scan_git_history, scan_paths
from .baseline import apply_baseline, load_baseline, write_baseline
from .errors import ScanError
from .hook import install_pre_push_hook
from .model import Finding
from .output import render_json, render_sarif, render_table

EXIT_CLEAN = 0
EXIT_FOUND = 1
EXIT_USAGE = 2


def _collect(
    paths: list[Path],
    *,
    git_history: bool,
    rev_range: str | None,
    gitignore: bool,
    jobs: int | None,
) -> list[Finding]:
    if not git_history:
        return scan_paths(paths, use_gitignore=gitignore, jobs=jobs)
    revs = shlex.split(rev_range) if rev_range else None
    findings: list[Finding] = []
    for repo in paths:
        findings.extend(scan_git_history(repo, revs=revs, jobs=jobs))
    return findings


def _render(findings: list[Finding], *, as_json: bool, sarif: bool, show: bool) -> str:
    if sarif:
        return render_sarif(findings, show_secrets=show)
    if as_json:
        return render_json(findings, show_secrets=show)
    return render_table(findings, show_secrets=show)


def scan_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or directories to scan (default: .).")
    ] = None,
    git_history: Annotated[
        bool, typer.Option("--git-history", help="Scan every blob of every commit.")
    ] = False,
    rev_range: Annotated[
        str | None,
        typer.Option("--rev-range", help="With --git-history: revisions, e.g. 'main..HEAD'."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Emit JSON.")] = False,
    sarif: Annotated[bool, typer.Option("--sarif", help="Emit SARIF 2.1.0.")] = False,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Ignore findings accepted in this file.")
    ] = None,
    write_baseline_to: Annotated[
        Path | None,
        typer.Option("--write-baseline", help="Accept all current findings into this file."),
    ] = None,
    redact: Annotated[
        bool,
        typer.Option("--redact/--show-secrets", help="Mask secrets (default) or print them."),
    ] = True,
    no_gitignore: Annotated[
        bool, typer.Option("--no-gitignore", help="Also scan files ignored by .gitignore.")
    ] = False,
    install_hook: Annotated[
        bool, typer.Option("--install-hook", help="Install a git pre-push hook and exit.")
    ] = False,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: cores).")
    ] = None,
) -> None:
    """Find leaked AI provider keys (OpenAI, Anthropic, Gemini, …) and Bastion keys."""
    targets = list(paths) if paths else [Path(".")]
    if as_json and sarif:
        typer.echo("error: --json and --sarif are mutually exclusive", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        if install_hook:
            hook = install_pre_push_hook(targets[0])
            typer.echo(f"installed pre-push hook: {hook}", err=True)
            raise typer.Exit(EXIT_CLEAN)
        accepted = load_baseline(baseline) if baseline else set()
        findings = _collect(
            targets, git_history=git_history, rev_range=rev_range,
            gitignore=not no_gitignore, jobs=jobs,
        )
        if write_baseline_to is not None:
            count = write_baseline(write_baseline_to, findings)
            typer.echo(f"wrote {count} fingerprint(s) to {write_baseline_to}", err=True)
    except ScanError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    reported = apply_baseline(findings, accepted)
    typer.echo(_render(reported, as_json=as_json, sarif=sarif, show=not redact), nl=False)
    if write_baseline_to is not None or not reported:
        raise typer.Exit(EXIT_CLEAN)
    raise typer.Exit(EXIT_FOUND)
