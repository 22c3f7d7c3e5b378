"""No answer carries a version banner: JSON, streams, errors, and aiohttp's own answers
to malformed HTTP all say ``Server: bastion`` and nothing more."""

from __future__ import annotations

import socket

import httpx

from bastion.testing import GatewayServer

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def test_no_version_banner_on_any_answer(gateway: GatewayServer) -> None:
    key = gateway.create_key()
    auth = {"Authorization": f"Bearer {key}"}
    answers = [
        httpx.get(gateway.base_url + "/healthz"),
        httpx.get(gateway.base_url + "/readyz"),
        httpx.get(gateway.base_url + "/nowhere"),
        httpx.post(gateway.openai_base_url + "/chat/completions", json=CHAT, headers=auth),
        httpx.post(gateway.openai_base_url + "/chat/completions", json={**CHAT, "stream": True},
                   headers=auth),
        httpx.post(gateway.openai_base_url + "/chat/completions", json=CHAT),
    ]
    for r in answers:
        assert r.headers.get("server") == "bastion", (r.request.url, r.headers)
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(b"GARBAGE / HTTP/9.9\r\n\r\n")
        raw = s.recv(4096).decode("latin-1")
    assert " 400 " in raw.split("\r\n", 1)[0]
    assert "Server: bastion\r\n" in raw
    assert "aiohttp" not in raw
    assert "Python" not in raw
