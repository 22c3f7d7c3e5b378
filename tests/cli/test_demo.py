"""`bastion demo` walks through its scenes against a real gateway."""

from __future__ import annotations

import io
import socket

from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import run_demo


def test_demo_walkthrough(captured: io.StringIO) -> None:  # logging restored afterwards
    lines: list[str] = []
    assert run_demo(lines.append, serve=False, port=0) == 0
    text = "\n".join(lines)
    assert "→ 200: 'You said: Hello, gateway!'" in text
    assert "403 model_not_allowed" in text
    assert "401 invalid_api_key" in text
    assert "x-bastion-degraded: static" in text


def test_demo_takes_a_free_port_when_its_own_is_taken(captured: io.StringIO) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = CliRunner().invoke(app, ["demo", "--port", str(port), "--no-serve"])
    assert r.exit_code == 0, r.output
    assert f"Port {port} is taken; the demo uses a free port instead." in r.stderr
    assert "Bastion demo gateway on http://127.0.0.1:" in r.stdout
    assert f"127.0.0.1:{port} " not in r.stdout
