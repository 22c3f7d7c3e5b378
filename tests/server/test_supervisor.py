"""``bastion serve --workers N``: a worker that dies is logged and replaced, and the
start-up banner comes once every worker listens."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
from tests.serve_process import ServeProcess


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "state": {"database": f"sqlite:///{tmp_path / 'b.db'}"},
        "providers": {"fake": {"type": "fake"}},
        "models": {"chat": {"targets": ["fake/m"]}},
        "server": {"shutdown_timeout_s": 2},
    }


def chat(gw: ServeProcess, key: str) -> int:
    return httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "chat",
                            "messages": [{"role": "user", "content": "hi"}]}).status_code


def worker_pids(gw: ServeProcess) -> set[int]:
    """The live worker processes, from their ``worker_started`` log lines."""
    pids = {e["pid"] for e in gw.log_events() if e.get("event") == "worker_started"}
    return {p for p in pids if Path(f"/proc/{p}").exists()} & set(gw.children())


def test_a_killed_worker_is_logged_and_replaced(tmp_path: Path) -> None:
    gw = ServeProcess(config(tmp_path), tmp_path, workers=2).start()
    try:
        _, key = gw.create_key()
        gw.wait_for(lambda: len(worker_pids(gw)) == 2, 10, "the workers")
        victim = min(worker_pids(gw))
        os.kill(victim, signal.SIGKILL)
        gw.wait_for(lambda: any(e.get("event") == "worker_exited" for e in gw.log_events()),
                    10, "a worker_exited log line")
        exited = next(e for e in gw.log_events() if e.get("event") == "worker_exited")
        assert exited["pid"] == victim
        assert exited["signal"] == "SIGKILL"
        assert exited["level"] == "error"
        gw.wait_for(lambda: len(worker_pids(gw)) == 2 and victim not in worker_pids(gw),
                    15, "a replacement worker")
        assert gw.logs().count("Bastion listening") == 1  # the banner is not repeated
        for _ in range(6):  # both workers (the new one included) answer
            assert chat(gw, key) == 200
    finally:
        assert gw.stop() == 0


def test_a_worker_that_cannot_start_stops_the_start_up(tmp_path: Path) -> None:
    """Without a banner, and with a non-zero exit the orchestrator sees."""
    cfg = config(tmp_path)
    # valid as a file, refused when the worker builds its routes
    cfg["providers"]["a"] = {"type": "anthropic", "api_key": "env:NOT_SET"}
    cfg["models"]["chat"]["resilience"] = {"local_fallback": "a/m"}
    gw = ServeProcess(cfg, tmp_path, workers=2).start(wait=None)
    assert gw.wait(60) == 1
    assert "Bastion listening" not in gw.logs()
    failed = [e for e in gw.log_events() if e.get("event") == "worker_failed_to_start"]
    assert failed
    assert failed[0]["level"] == "error"
