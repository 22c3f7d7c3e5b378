"""An error in the log is one JSON line with its type and a bounded traceback, whether
it comes from the gateway or from a library (aiohttp here); nothing else is printed."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

from tests.serve_process import ServeProcess


def test_errors_are_single_json_lines_with_type_and_traceback(tmp_path: Path) -> None:
    cfg = {
        "state": {"database": f"sqlite:///{tmp_path / 'b.db'}"},
        "providers": {"fake": {"type": "fake"}},
        "models": {"chat": {"targets": ["fake/m"]}},
        "server": {"shutdown_timeout_s": 2},
        "usage": {"spill_dir": str(tmp_path / "spill")},
    }
    gw = ServeProcess(cfg, tmp_path).start()
    try:
        key_id, _ = gw.create_key()
        # someone breaks the database under the running gateway: an unexpected error
        with sqlite3.connect(tmp_path / "b.db") as db:
            db.execute("DROP TABLE usage")
        r = gw.admin("GET", f"/admin/keys/{key_id}/usage")
        assert r.status_code == 500
        assert "Traceback" not in r.text
        assert "no such table" not in r.text

        # a malformed request: aiohttp logs it through the standard logging module
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: nope\r\n\r\n")
            assert b" 400 " in s.recv(4096).split(b"\r\n", 1)[0]
        gw.wait_for(lambda: any(e.get("logger") == "aiohttp.server" for e in gw.log_events()),
                    10, "aiohttp's log line")
    finally:
        assert gw.stop() == 0

    events = gw.log_events()
    ours = next(e for e in events if e["event"] == "unhandled_error")
    assert ours["level"] == "error"
    assert ours["error_type"] == "sqlite3.OperationalError"
    assert "no such table" in ours["error"]
    assert ours["traceback"].startswith("Traceback") or ours["traceback"].startswith("…")
    assert "OperationalError" in ours["traceback"]
    assert len(ours["traceback"]) <= 8001
    assert "exc_info" not in ours

    lib = next(e for e in events if e.get("logger") == "aiohttp.server")
    assert lib["level"] == "error"
    assert lib["error_type"].endswith("BadHttpMessage") or "Bad" in lib["error_type"]
    assert "traceback" in lib
    # every line is JSON but the start-up banner (one block, first line known)
    lines = gw.logs().splitlines()
    plain = [i for i, line in enumerate(lines) if not line.startswith("{")]
    assert plain == list(range(plain[0], plain[0] + len(plain)))
    assert lines[plain[0]].startswith("Bastion listening")
