"""Counting a request's tokens never freezes the event loop, whatever field holds the
text: 4 MB of tool-call arguments once stalled /healthz for 4.8 s (issue 9, finding 2).
Where the counting runs is decided once per request from the raw body's size."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.payloads import tool_call_request


def _lag_while(gw: GatewayServer, work: Callable[[], Any]) -> tuple[float, Any]:
    """The longest /healthz round trip while ``work()`` runs in another thread."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(work()))
    worst = 0.0
    with httpx.Client(base_url=gw.base_url, timeout=60) as client:
        client.get("/healthz")
        worker.start()
        while worker.is_alive():
            t = time.monotonic()
            assert client.get("/healthz").status_code == 200
            worst = max(worst, time.monotonic() - t)
            time.sleep(0.02)
    worker.join()
    return worst, result[0]


# 3 MB is tokenised exactly (in a thread); 4.5 MB is over traffic.estimate_over_chars
# and estimated. Three at once: they once stalled the loop one after the other.
@pytest.mark.parametrize("mb", [3, 4.5])
def test_huge_tool_call_arguments_do_not_stall_the_loop(
        upstream_factory: Callable[[], FakeUpstream], mb: float) -> None:
    up = upstream_factory()
    settings = {
        "providers": {"oa": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": ["oa/gpt-4o"]}},
        "server": {"max_body_bytes": 8 * 1024 * 1024},
    }
    body = tool_call_request(int(mb * 1024 * 1024))
    with GatewayServer(settings) as gw:
        key = gw.create_key(tpm=1000)  # a limit: the prompt is counted, then refused

        def big(_: int) -> httpx.Response:
            return httpx.post(gw.openai_base_url + "/chat/completions", json=body,
                              headers={"Authorization": f"Bearer {key}"}, timeout=120)

        def three() -> list[httpx.Response]:
            with ThreadPoolExecutor(3) as pool:
                return list(pool.map(big, range(3)))

        worst, answers = _lag_while(gw, three)
    for r in answers:
        assert r.status_code == 429, r.text
        assert "tokens" in r.json()["error"]["message"]
    assert up.calls == 0
    assert worst < 1.0, f"/healthz waited {worst:.2f} s while the request was counted"
