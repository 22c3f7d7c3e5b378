"""``bastion serve --workers 2`` without Redis keeps one ledger for both workers: a
limit or budget is not multiplied by the number of workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from tests.serve_process import ServeProcess

PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "state": {"database": f"sqlite:///{tmp_path / 'b.db'}"},
        "providers": {"fake": {"type": "fake"}},
        "models": {"chat": {"targets": [{"target": "fake/m", "price": PRICE}]}},
        "server": {"shutdown_timeout_s": 2},
    }


def chat(gw: ServeProcess, key: str, i: int) -> httpx.Response:
    # a new connection each time, so the kernel spreads them over both workers
    with httpx.Client(timeout=10) as c:
        return c.post(gw.openai_base_url + "/chat/completions",
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "chat", "max_tokens": 10,
                            "messages": [{"role": "user", "content": f"hello {i}"}]})


def test_two_workers_share_one_rate_limit_and_one_budget(tmp_path: Path) -> None:
    gw = ServeProcess(config(tmp_path), tmp_path, workers=2).start()
    try:
        _, limited = gw.create_key(rpm=6)
        codes = [chat(gw, limited, i).status_code for i in range(20)]
        assert codes.count(200) == 6  # not 12: one worker would let 6 through on its own
        assert codes.count(429) == 14

        key_id, budgeted = gw.create_key(budget_usd=0.05)
        for i in range(25):
            r = chat(gw, budgeted, i)
            assert r.status_code == 200 or r.json()["error"]["code"] == "budget_exceeded"
        spent = gw.admin("GET", f"/admin/keys/{key_id}/usage").json()
        # each worker alone would have let about 0.05 through: together, twice the budget
        assert 0.02 < spent["spend_usd"] <= 0.05 + 1e-9
    finally:
        assert gw.stop() == 0


async def test_the_ledger_process_answers_peek_for_headroom_routing(tmp_path: Path) -> None:
    """Headroom routing reads counters without reserving: the socket ledger says what a
    window holds, and a reservation shows up in it."""
    import asyncio

    from bastion.traffic.ledger import Charge
    from bastion.traffic.ledger_socket import SocketLedger, serve_ledger

    path = str(tmp_path / "ledger.sock")
    stop = asyncio.Event()
    ready = asyncio.Event()
    server = asyncio.create_task(serve_ledger(path, ready.set, stop))
    await asyncio.wait_for(ready.wait(), 5)
    ledger = SocketLedger(path)
    try:
        rpm = Charge(key="t:rpm", limit=10, amount=1, window_ms=60_000)
        assert await ledger.peek([rpm]) == [0]
        assert (await ledger.reserve([rpm], "r1", 5.0)).ok
        assert await ledger.peek([rpm]) == [1]
    finally:
        await ledger.aclose()
        stop.set()
        await server
