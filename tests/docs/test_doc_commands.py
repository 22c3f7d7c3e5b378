"""Every ``bastion`` command in README.md and docs/ parses against the real CLI.

The shell blocks (```sh, ```console) are extracted; each line that runs ``bastion``
(after ``$ ``, ``.venv/bin/``, a leading ``VAR=value`` or ``KEY=$(…``) is parsed
with the CLI's own click command, options and arguments included, so a renamed
command or option in the code fails here until the docs follow.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from bastion.cli import _register_scan, app

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(?:sh|bash|console|shell)\n(.*?)^```", re.M | re.S)
_CALL = re.compile(r"(?:^|[\s(])(?:\.venv/bin/)?bastion\s+(.*)$")


def commands() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for block in _BLOCK.findall(doc.read_text(encoding="utf-8")):
            for raw in block.replace("\\\n", " ").splitlines():
                line = raw.removeprefix("$ ").split(" #", 1)[0].split("|", 1)[0].strip()
                m = _CALL.search(line)
                if m and not line.startswith("#"):
                    out.append((doc.name, "bastion " + m.group(1).strip()))
    return out


def _parse(cmd: Any, args: list[str]) -> None:
    """Parse ``args`` as the CLI would, down to the subcommand; raises the CLI's usage
    error (typer vendors click, so its error classes are typer's own)."""
    ctx = cmd.make_context("bastion", args, resilient_parsing=False)
    if hasattr(cmd, "resolve_command"):  # a group: on to the subcommand
        name, sub, rest = cmd.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert sub is not None, name
        _parse(sub, rest)


def test_docs_show_bastion_commands() -> None:
    assert len(commands()) >= 10


@pytest.mark.parametrize(("doc", "line"), commands())
def test_command_parses(doc: str, line: str) -> None:
    _register_scan()
    args = shlex.split(line)[1:]
    try:
        _parse(typer.main.get_command(app), args)
    except Exception as e:  # noqa: BLE001 - the vendored click's UsageError, by its name
        pytest.fail(f"{doc}: `{line}` does not parse: {type(e).__name__}: {e}")


@pytest.mark.parametrize("args", [["keyz", "list"], ["keys", "create", "--nmae", "x"],
                                  ["check-config", "--strikt"]])
def test_a_wrong_command_fails_to_parse(args: list[str]) -> None:
    with pytest.raises(Exception, match=r"No such|option"):
        _parse(typer.main.get_command(app), args)
