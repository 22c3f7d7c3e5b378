"""What a provider (or anything posing as one) can do to the gateway, over real HTTP:
redirects that would carry the key elsewhere, answers too big to hold, endless stream
events, partial echoes of the key, and a full pool of connections on this side."""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web

from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.burst import burst
from bastion.testing.upstream import openai_chat

AZURE_KEY = "0123456789abcdef0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-api03-Zq8xW3vT6nB1mK4pL7sD0fG2hJ5kR9cE"
GEMINI_KEY = "AIzaSyD4f8Hk2LmN7pQ1rT5vX9zB3cE6gJ0kMq"
OPENAI_KEY = "sk-proj-Vb3Nq7Xr1Tz5Lw9Kd2Hs6Fm0Pc4Jy8Ga"
NO_RETRY = {"retry": {"max_attempts": 1}, "breaker": {"enabled": False}}
CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
Make = Callable[[dict[str, Any]], GatewayServer]


def post(gw: GatewayServer, key: str, body: dict[str, Any] | None = None,
         timeout: float = 30.0) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions", json=body or CHAT,
                      headers={"Authorization": f"Bearer {key}"}, timeout=timeout)


def catch_all(handler: Any) -> dict[str, Any]:
    return {"/{tail:.*}": handler}


# ---- 1. redirects are never followed -----------------------------------------------------

@pytest.mark.parametrize(("kind", "extra", "key", "header"), [
    ("azure_openai", {"api_version": "2024-10-21"}, AZURE_KEY, "api-key"),
    ("anthropic", {}, ANTHROPIC_KEY, "x-api-key"),
    ("gemini", {}, GEMINI_KEY, "x-goog-api-key"),
    ("openai", {}, OPENAI_KEY, "authorization"),
])
@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_to_another_host_never_carries_the_key(
    kind: str, extra: dict[str, Any], key: str, header: str, status: int) -> None:
    async def answer(up: FakeUpstream, request: web.Request, body: Any,
                     b: Behavior) -> web.StreamResponse:
        return await openai_chat(up, request, {**CHAT, "model": "m"}, b)

    with FakeUpstream(routes=catch_all(answer)) as foreign:
        # "localhost" is another host than the 127.0.0.1 the provider is reached on
        foreign_url = foreign.base_url.replace("127.0.0.1", "localhost") + "/v1/chat/completions"

        async def redirect(up: FakeUpstream, request: web.Request, body: Any,
                           b: Behavior) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": foreign_url})

        with FakeUpstream(routes=catch_all(redirect)) as provider:
            base = provider.base_url + ("/v1" if kind == "openai" else "")
            settings = {
                "providers": {"p": {"type": kind, "base_url": base, "api_key": "env:P_KEY",
                                    **extra}},
                "models": {"chat": {"targets": ["p/m"]}},
                "resilience": NO_RETRY,
            }
            with GatewayServer(settings, env={"P_KEY": key}) as gw:
                r = post(gw, gw.create_key())
            assert provider.calls == 1
            assert provider.received[0].headers.get(header) or \
                provider.received[0].headers.get(header.title())
        assert foreign.calls == 0, f"the {header} header and the prompt went to another host"
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "upstream_unavailable"
    assert key not in r.text


def test_a_redirect_is_logged_with_hosts_only(upstream_factory: Callable[[], FakeUpstream],
                                              captured: io.StringIO) -> None:
    up = upstream_factory()
    up.default = Behavior(kind="status", status=301,
                          headers={"Location": "http://elsewhere.example/v1/x?token=s3cr3t"})
    settings = {"providers": {"p": {"type": "openai_compatible", "base_url": up.base_url}},
                "models": {"chat": {"targets": ["p/m"]}}, "resilience": NO_RETRY}
    with GatewayServer(settings) as gw:
        r = post(gw, gw.create_key())
    assert r.status_code == 503
    out = captured.getvalue()
    assert "upstream_redirect" in out
    assert "elsewhere.example" in out
    assert "s3cr3t" not in out


# ---- 8. answers have a size cap ----------------------------------------------------------

def _capped(up: FakeUpstream, **caps: int) -> dict[str, Any]:
    return {"providers": {"p": {"type": "openai_compatible", "base_url": up.base_url,
                                **caps}},
            "models": {"chat": {"targets": ["p/m"]}}, "resilience": NO_RETRY}


def _big_answer(size: int) -> bytes:
    text = "x" * size
    return json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text}}]}
                      ).encode()


@pytest.mark.parametrize("how", ["length", "chunked", "gzip"])
def test_an_answer_over_the_cap_is_refused_without_holding_it(how: str) -> None:
    big = _big_answer(3 * 1024 * 1024)

    async def huge(up: FakeUpstream, request: web.Request, body: Any,
                   b: Behavior) -> web.StreamResponse:
        if how == "length":
            return web.Response(body=big, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        data = big
        if how == "gzip":
            resp.headers["Content-Encoding"] = "gzip"
            data = gzip.compress(big)  # about 3 KB on the wire, 3 MB once inflated
        await resp.prepare(request)
        for i in range(0, len(data), 65536):
            await resp.write(data[i:i + 65536])
        await resp.write_eof()
        return resp

    with FakeUpstream(routes=catch_all(huge)) as up, \
            GatewayServer(_capped(up, max_response_bytes=1024 * 1024)) as gw:
        r = post(gw, gw.create_key())
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "upstream_unavailable"


def test_an_answer_under_the_cap_passes(upstream_factory: Callable[[], FakeUpstream]) -> None:
    up = upstream_factory()
    with GatewayServer(_capped(up, max_response_bytes=64 * 1024)) as gw:
        r = post(gw, gw.create_key())
    assert r.status_code == 200, r.text


def test_an_endless_stream_event_is_cut_and_the_loop_stays_free() -> None:
    """120 MB without an event separator once took 30 s and froze the loop."""
    sent = 0

    async def endless(up: FakeUpstream, request: web.Request, body: Any,
                      b: Behavior) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        piece = b"data: " + b"y" * 65530
        try:
            for _ in range(2000):  # up to 128 MB, never a blank line
                await resp.write(piece)
                sent += len(piece)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return resp

    with FakeUpstream(routes=catch_all(endless)) as up, \
            GatewayServer(_capped(up, max_event_bytes=1024 * 1024)) as gw:
        key = gw.create_key()
        started = time.monotonic()
        r = post(gw, key, {**CHAT, "stream": True})
        took = time.monotonic() - started
        health = httpx.get(gw.base_url + "/healthz", timeout=5)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "upstream_unavailable"
    assert took < 10, f"cutting the stream took {took:.1f} s"
    assert sent < 32 * 1024 * 1024, "the gateway kept reading after the cap"
    assert health.status_code == 200


def test_the_default_caps_exist(upstream_factory: Callable[[], FakeUpstream]) -> None:
    up = upstream_factory()
    with GatewayServer(_capped(up)) as gw:
        http = gw.gateway.providers["p"]._http  # type: ignore[attr-defined]
    assert 64 * 1024 * 1024 <= http.max_response_bytes <= 512 * 1024 * 1024
    assert 1024 * 1024 <= http.max_event_bytes <= 64 * 1024 * 1024


# ---- 12. partial key echoes are masked ---------------------------------------------------

@pytest.mark.parametrize("cut", [slice(0, 24), slice(4, 16), slice(20, 32)])
def test_a_partial_echo_of_the_key_never_reaches_the_client(cut: slice) -> None:
    echoed = AZURE_KEY[cut]

    async def echo(up: FakeUpstream, request: web.Request, body: Any,
                   b: Behavior) -> web.StreamResponse:
        msg = f"Invalid deployment for key {echoed}**** (see docs)"
        return web.json_response({"error": {"message": msg, "type": "invalid_request_error"}},
                                 status=400)

    with FakeUpstream(routes=catch_all(echo)) as up:
        settings = {"providers": {"az": {"type": "azure_openai", "base_url": up.base_url,
                                         "api_key": "env:AZ"}},
                    "models": {"chat": {"targets": ["az/d"]}}, "resilience": NO_RETRY}
        with GatewayServer(settings, env={"AZ": AZURE_KEY}) as gw:
            r = post(gw, gw.create_key())
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "upstream_rejected"
    text = r.text
    for i in range(len(AZURE_KEY) - 7):
        assert AZURE_KEY[i:i + 8] not in text, text
    assert "Invalid deployment for key [redacted]" in text


def test_a_partial_echo_in_an_anthropic_stream_error_is_masked() -> None:
    async def error_event(up: FakeUpstream, request: web.Request, body: Any,
                          b: Behavior) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        err = {"type": "error", "error": {"type": "invalid_request_error",
                                          "message": f"bad key {ANTHROPIC_KEY[10:30]}"}}
        await resp.write(b"event: error\ndata: " + json.dumps(err).encode() + b"\n\n")
        await resp.write_eof()
        return resp

    with FakeUpstream(routes=catch_all(error_event)) as up:
        settings = {"providers": {"an": {"type": "anthropic", "base_url": up.base_url,
                                         "api_key": "env:AN"}},
                    "models": {"chat": {"targets": ["an/claude"]}}, "resilience": NO_RETRY}
        with GatewayServer(settings, env={"AN": ANTHROPIC_KEY}) as gw:
            r = post(gw, gw.create_key(), {**CHAT, "stream": True})
    assert r.status_code == 400
    for i in range(len(ANTHROPIC_KEY) - 7):
        assert ANTHROPIC_KEY[i:i + 8] not in r.text, r.text


# ---- 5. a full pool here is not the provider's failure ------------------------------------

def test_local_pool_waits_never_open_the_breaker(
        upstream_factory: Callable[[], FakeUpstream]) -> None:
    up = upstream_factory()
    up.default = Behavior(kind="ok", delay_s=1.0)
    settings = {
        "providers": {"p": {"type": "openai_compatible", "base_url": up.base_url,
                            "max_connections": 1,
                            "timeout_ms": {"connect": 2000, "first_byte": 1500,
                                           "total": 10000}}},
        "models": {"chat": {"targets": ["p/m"]}},
        "resilience": {"retry": {"max_attempts": 1},
                       "breaker": {"failure_threshold": 3, "cooldown_ms": 60000}},
    }
    with GatewayServer(settings) as gw:
        key = gw.create_key()
        statuses = burst(gw.openai_base_url + "/chat/completions", [key] * 10, CHAT)
        assert statuses.count(200) >= 1
        assert set(statuses) <= {200, 503}
        busy = statuses.count(503)
        assert busy >= 3, statuses  # enough local failures to open a breaker that counted them
        up.default = Behavior()
        state = httpx.get(gw.base_url + "/admin/breakers",
                          headers={"Authorization": f"Bearer {gw.master_key}"}).json()
        r = post(gw, key)
    [breaker] = [b for b in state["data"] if b["target"] == "p/m"]
    assert breaker["state"] == "closed", breaker
    assert r.status_code == 200, r.text


def test_the_default_pool_does_not_cap_a_healthy_provider_at_256(
        upstream_factory: Callable[[], FakeUpstream]) -> None:
    """300 calls in flight at once to a provider that takes 2.5 s each all succeed."""
    up = upstream_factory()
    up.default = Behavior(kind="ok", delay_s=2.5)
    settings = {"providers": {"p": {"type": "openai_compatible", "base_url": up.base_url}},
                "models": {"chat": {"targets": ["p/m"]}}, "resilience": NO_RETRY}
    with GatewayServer(settings) as gw:
        statuses = burst(gw.openai_base_url + "/chat/completions", [gw.create_key()] * 300,
                         CHAT)
    assert statuses.count(200) == 300, {s: statuses.count(s) for s in set(statuses)}
