"""The ``server`` and ``logging`` settings change what ``bastion serve`` does: where it
listens, how many worker processes answer, and what its log lines look like. Real
processes, started the way an operator starts them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(tmp_path: Path, settings: dict[str, Any], url: str,
          while_up: Callable[[], None] | None = None) -> str:
    """Run ``bastion serve`` with ``settings`` until ``url`` answers /healthz (then
    ``while_up()``); stop it and return what it wrote to standard error."""
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump({"state": {"database": "memory://"},
                                    "providers": {"fake": {"type": "fake"}},
                                    "models": {"chat": {"targets": ["fake/m"]}}, **settings}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION")}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bastion.cli", "serve", "--config", str(path)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"bastion serve exited with {proc.returncode}"
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{url} never became healthy"
            time.sleep(0.1)
        if while_up is not None:
            while_up()
        time.sleep(0.3)  # let every worker log that it started
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    return err


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def test_host_port_and_workers(tmp_path: Path) -> None:
    host = "127.0.0.2"  # a loopback address, but not the default 127.0.0.1
    port = free_port(host)

    def only_there() -> None:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)

    err = serve(tmp_path, {"server": {"host": host, "port": port, "workers": 2}},
                f"http://{host}:{port}", only_there)
    assert f"Bastion listening on http://{host}:{port}" in err
    events = list(json_lines(err))  # the default format: JSON, from the info level up
    started = [e for e in events if e["event"] == "worker_started"]
    assert len({e["pid"] for e in started}) == 2  # two processes share the port
    assert {e["port"] for e in started} == {port}
    assert {e["level"] for e in started} == {"info"}
    assert any(e["event"] == "key_hash_secret_in_database" for e in events)


def test_logging_level_and_format(tmp_path: Path) -> None:
    """Against the default (JSON, info: see the test above), a warning level drops the
    info lines and the console format writes lines for people."""
    port = free_port("127.0.0.1")
    err = serve(tmp_path, {"server": {"port": port},
                           "logging": {"level": "warning", "format": "console"}},
                f"http://127.0.0.1:{port}")
    assert "worker_started" not in err
    # a warning every start logs (no key-hash secret configured)
    [warning] = [line for line in err.splitlines() if "key_hash_secret_in_database" in line]
    assert not warning.startswith("{")
    assert "[warning" in warning
