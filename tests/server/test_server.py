"""``bastion serve`` as operators run it: the banner only once it listens, a start
without the database, and a shutdown that ends streams cleanly and in time."""

from __future__ import annotations

import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.private_services import PrivatePostgres
from tests.serve_process import ServeProcess

from bastion.testing import Behavior, FakeUpstream


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream(reply="lighthouse " * 120) as u:
        yield u


def config(tmp_path: Path, **server: Any) -> dict[str, Any]:
    return {
        "state": {"database": f"sqlite:///{tmp_path / 'b.db'}"},
        "providers": {"fake": {"type": "fake"}},
        "models": {"chat": {"targets": ["fake/m"]}},
        "server": server,
    }


def test_the_banner_waits_for_the_port(tmp_path: Path) -> None:
    gw = ServeProcess(config(tmp_path), tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", gw.port))
        taken.listen()
        gw.start(wait=None)
        assert gw.wait(30) != 0
    assert "Bastion listening" not in gw.logs()
    assert "already in use" in gw.logs()
    assert "Traceback" not in gw.logs()


def test_a_replica_starts_without_its_database_and_serves_once_it_is_back(
        private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg["state"]["database"] = f"{private_postgres.url}?schema=s_{uuid.uuid4().hex[:10]}"
    cfg["usage"] = {"spill_dir": str(tmp_path / "spill")}
    private_postgres.stop()
    gw = ServeProcess(cfg, tmp_path).start()
    try:
        assert gw.healthy()
        assert gw.ready() == 503
        r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                       headers={"Authorization": "Bearer bst_" + "a" * 43},
                       json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "service_unavailable"
        assert "Retry-After" in r.headers
        private_postgres.start()
        gw.wait_for(lambda: gw.ready() == 200, 15, "readiness after the database returned")
        _, key = gw.create_key()
        r = httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                       headers={"Authorization": f"Bearer {key}"},
                       json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 200
    finally:
        assert gw.stop() == 0


def test_a_locked_database_file_at_start_is_waited_for(tmp_path: Path) -> None:
    """Another process holds the SQLite file's lock while this one starts (a second
    replica migrating, a backup): the start waits (busy timeout) instead of dying."""
    db = tmp_path / "b.db"
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.5, holder.rollback).start()
    gw = ServeProcess(config(tmp_path), tmp_path).start()
    try:
        gw.wait_for(lambda: gw.ready() == 200, 20, "readiness")
        assert "database is locked" not in gw.logs()
        assert not [e for e in gw.log_events() if e.get("event") == "database_unavailable"]
    finally:
        holder.close()
        assert gw.stop() == 0


def open_stream(url: str, headers: dict[str, str], body: dict[str, Any],
                out: list[bytes]) -> None:
    with httpx.stream("POST", url, headers=headers, json=body, timeout=60) as r:
        for chunk in r.iter_raw():
            out.append(chunk)


def test_shutdown_ends_streams_with_an_error_event_and_bills_them(
        up: FakeUpstream, tmp_path: Path) -> None:
    up.default = Behavior(interval_s=0.25)  # about 30 s per answer
    cfg = {
        "state": {"database": f"sqlite:///{tmp_path / 'b.db'}"},
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url + "/v1"}},
        "models": {"chat": {"targets": ["up/gpt-4o-mini"],
                            "resilience": {"stream_idle_timeout_ms": 60000}}},
        "server": {"shutdown_timeout_s": 3},
    }
    gw = ServeProcess(cfg, tmp_path).start()
    _, key = gw.create_key(user="streamer")
    msg = {"messages": [{"role": "user", "content": "tell me about lighthouses"}],
           "model": "chat", "stream": True}
    outs: list[list[bytes]] = [[], []]
    threads = [
        threading.Thread(target=open_stream, args=(
            gw.openai_base_url + "/chat/completions", {"Authorization": f"Bearer {key}"},
            msg, outs[0])),
        threading.Thread(target=open_stream, args=(
            gw.openai_base_url + "/messages", {"x-api-key": key, "anthropic-version": "x"},
            {**msg, "max_tokens": 2000}, outs[1])),
    ]
    for t in threads:
        t.start()
    gw.wait_for(lambda: all(b"light" in b"".join(o) for o in outs), 15, "both streams")
    gw.signal(signal.SIGTERM)
    stopped = time.monotonic()
    code = gw.wait(15)
    took = time.monotonic() - stopped
    for t in threads:
        t.join(10)
    assert code == 0
    assert took < 3 + 1.0, f"shutdown took {took:.1f} s against a 3 s timeout"
    openai_out, anthropic_out = (b"".join(o).decode() for o in outs)
    assert '"code":"server_shutting_down"' in openai_out
    assert openai_out.rstrip().endswith("data: [DONE]")
    assert "event: error" in anthropic_out
    assert "server_shutting_down" in anthropic_out.split("event: error", 1)[1]
    rows = sqlite3.connect(tmp_path / "b.db").execute(
        "SELECT status, outcome, completion_tokens, cost_usd FROM usage").fetchall()
    assert len(rows) == 2
    for status, outcome, completion, cost in rows:
        assert (status, outcome) == (503, "cut")
        assert completion > 0  # what was delivered is billed
        assert cost > 0
