"""A client that leaves mid-stream: the upstream connection is released, no task is
left behind, and the request is recorded as abandoned (499)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer


async def gateway_tasks() -> int:
    return len(asyncio.all_tasks()) - 1  # less this probe


def read_some_then_leave(port: int, key: str, body: bytes | None = None) -> bytes:
    """POST a streamed chat request on a raw socket, read up to the first event, leave."""
    body = body or (b'{"model": "chat", "stream": true, "messages": '
                    b'[{"role": "user", "content": "tell me a long story please"}]}')
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head + body)
        got = b""
        while b"data:" not in got:
            got += s.recv(4096)
    return got  # the socket closes here, mid-stream


@pytest.mark.parametrize("rounds", [3])
def test_client_leaving_mid_stream_releases_everything(rounds: int) -> None:
    with FakeUpstream() as up:
        up.default = Behavior(kind="stall_stream", delay_s=30)
        settings: dict[str, Any] = {
            "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url + "/v1"}},
            "models": {"chat": {"targets": ["up/m"],
                                "resilience": {"stream_idle_timeout_ms": 60000}}},
        }
        with GatewayServer(settings) as gw:
            key = gw.create_key()
            baseline = gw.run(gateway_tasks())
            for _ in range(rounds):
                assert b"data:" in read_some_then_leave(gw.port, key)
            provider: Any = gw.gateway.providers["up"]
            connector = provider._http.session.connector
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if not connector._acquired and gw.run(gateway_tasks()) <= baseline:
                    break
                time.sleep(0.05)
            assert not connector._acquired, "upstream connections still held"
            assert provider._http.in_use == 0, "connection slots still held"
            assert gw.run(gateway_tasks()) <= baseline, "tasks left on the gateway loop"
            gw.run(gw.gateway.recorder.flush())
            rows = gw.run(gw.gateway.db.usage_totals(gw.run(gw.gateway.keys.list())[0].id))
            assert rows.requests == rounds
        assert up.calls == rounds
