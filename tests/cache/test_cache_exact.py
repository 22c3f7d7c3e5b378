"""The exact cache over real HTTP: the openai SDK → Bastion → a counting FakeUpstream."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import msgspec
import openai
import pytest
from aiohttp import web

from bastion.core.types import ChatRequest, json_encoder
from bastion.providers.base import Call
from bastion.testing import Behavior, FakeUpstream

if TYPE_CHECKING:
    from conftest import CacheKit


def test_identical_deterministic_requests_reach_provider_once(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream))
    c = kit.client(gw, gw.create_key(team="red"))
    assert kit.ask(c, "hello there") == ("You said: hello there", "miss")
    assert kit.ask(c, "hello there") == ("You said: hello there", "hit")
    assert kit.ask(c, "hello there", seed=7, temperature=None) == ("You said: hello there", "miss")
    assert upstream.calls == 2
    # A differing field that shapes the answer is another entry; `user` is not.
    assert kit.ask(c, "hello there", max_tokens=50)[1] == "miss"
    assert kit.ask(c, "hello there", user="someone-else")[1] == "hit"
    assert upstream.calls == 3


def test_tenants_never_share_answers(upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream))
    red1 = kit.client(gw, gw.create_key(team="red"))
    red2 = kit.client(gw, gw.create_key(team="red"))
    blue = kit.client(gw, gw.create_key(team="blue"))
    loner = kit.client(gw, gw.create_key())
    assert kit.ask(red1, "shared question")[1] == "miss"
    assert kit.ask(red2, "shared question")[1] == "hit"  # same team
    assert kit.ask(blue, "shared question")[1] == "miss"
    assert kit.ask(loner, "shared question")[1] == "miss"  # no team: scoped to the key
    assert upstream.calls == 3


def test_key_scope_and_global_scope(upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream, {"scope": "key"}))
    a, b = (kit.client(gw, gw.create_key(team="red")) for _ in range(2))
    kit.ask(a, "q")
    assert kit.ask(b, "q")[1] == "miss"
    assert upstream.calls == 2
    with FakeUpstream() as up2:
        gw2 = kit.gateway(kit.settings(up2, {"scope": "global"}))
        kit.ask(kit.client(gw2, gw2.create_key(team="red")), "q")
        assert kit.ask(kit.client(gw2, gw2.create_key(team="blue")), "q")[1] == "hit"
        assert up2.calls == 1


def test_an_error_is_never_served_from_cache(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream))
    c = kit.client(gw, gw.create_key())
    upstream.push(*[Behavior(kind="status", status=500)] * 3)
    with pytest.raises(openai.APIStatusError) as e:
        kit.ask(c, "fragile")
    assert e.value.status_code == 503
    upstream.script.clear()
    calls = upstream.calls
    assert kit.ask(c, "fragile") == ("You said: fragile", "miss")
    assert upstream.calls == calls + 1
    assert kit.ask(c, "fragile")[1] == "hit"
    assert upstream.calls == calls + 1


def test_stream_after_non_stream_is_replayed_as_a_stream(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream))
    c = kit.client(gw, gw.create_key())
    text, _ = kit.ask(c, "tell me a story")
    with c.chat.completions.with_streaming_response.create(
            model="chat", temperature=0, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "tell me a story"}]) as r:
        assert r.headers["x-bastion-cache"] == "hit"
        chunks = list(r.parse())
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == text
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert upstream.calls == 1


def test_a_whole_stream_is_stored_and_serves_both_shapes(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream))
    c = kit.client(gw, gw.create_key())
    chunks = list(c.chat.completions.create(
        model="chat", temperature=0, stream=True,
        messages=[{"role": "user", "content": "streamed first"}]))
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert kit.ask(c, "streamed first") == (streamed, "hit")
    again = list(c.chat.completions.create(
        model="chat", temperature=0, stream=True,
        messages=[{"role": "user", "content": "streamed first"}]))
    assert "".join(ch.choices[0].delta.content or "" for ch in again if ch.choices) == streamed
    assert upstream.calls == 1


def test_a_cut_stream_is_not_stored(upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream))
    c = kit.client(gw, gw.create_key())
    upstream.push(Behavior(kind="cut_stream"))
    with pytest.raises(openai.APIError):
        list(c.chat.completions.create(
            model="chat", temperature=0, stream=True,
            messages=[{"role": "user", "content": "a long answer that will be cut short"}]))
    assert kit.ask(c, "a long answer that will be cut short")[1] == "miss"
    assert upstream.calls == 2


async def _slow_chat(up: FakeUpstream, request: web.Request, body: Any,
                     b: Behavior) -> web.StreamResponse:
    """The OpenAI stream, one chunk every 50 ms."""
    req = msgspec.convert(body, ChatRequest)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    async for chunk in up.fake.stream(req, Call(model=req.model)):
        await resp.write(b"data: " + json_encoder.encode(chunk) + b"\n\n")
        await asyncio.sleep(0.05)
    await resp.write(b"data: [DONE]\n\n")
    return resp


def test_a_stream_the_client_abandons_is_not_stored(kit: CacheKit) -> None:
    up = kit.upstream(routes={"/v1/chat/completions": _slow_chat})
    gw = kit.gateway(kit.settings(up))
    c = kit.client(gw)
    stream = c.chat.completions.create(model="chat", temperature=0, stream=True,
                                       messages=[{"role": "user", "content": "slow " * 20}])
    next(iter(stream))
    stream.close()
    time.sleep(1.5)  # the upstream stream (16 chunks x 50 ms) has ended by now
    up.default = Behavior(kind="status", status=500)
    with pytest.raises(openai.APIStatusError):
        kit.ask(c, "slow " * 20, stream=False)  # not stored: the request reached upstream


def test_header_opt_in_opt_out_and_refresh(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream))
    c = kit.client(gw, gw.create_key())
    # Not deterministic: not cached by default.
    assert kit.ask(c, "creative", temperature=0.7) == ("You said: creative", None)
    assert kit.ask(c, "creative", temperature=0.7)[1] is None
    assert upstream.calls == 2
    # Opted in.
    on = {"x-bastion-cache": "on"}
    assert kit.ask(c, "creative", on, temperature=0.7)[1] == "miss"
    assert kit.ask(c, "creative", on, temperature=0.7)[1] == "hit"
    assert upstream.calls == 3
    # Opted out of a deterministic request.
    kit.ask(c, "exact")
    assert kit.ask(c, "exact", {"x-bastion-cache": "off"})[1] is None
    assert upstream.calls == 5
    # Refresh: reaches the provider, and the new answer is served after.
    assert kit.ask(c, "exact", {"x-bastion-cache": "refresh"})[1] == "miss"
    assert upstream.calls == 6
    assert kit.ask(c, "exact")[1] == "hit"
    assert upstream.calls == 6
    with pytest.raises(openai.BadRequestError):
        kit.ask(c, "exact", {"x-bastion-cache": "maybe"})


def test_alias_settings_on_and_off(upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream, {"enabled": "on"}))
    c = kit.client(gw, gw.create_key())
    kit.ask(c, "warm", temperature=0.9)
    assert kit.ask(c, "warm", temperature=0.9)[1] == "hit"
    with FakeUpstream() as up2:
        gw2 = kit.gateway(kit.settings(up2, {"enabled": "off"}))
        c2 = kit.client(gw2, gw2.create_key())
        kit.ask(c2, "cold", {"x-bastion-cache": "on"})
        assert kit.ask(c2, "cold", {"x-bastion-cache": "on"})[1] is None
        assert up2.calls == 2


def test_ttl_expiry(upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream, {"ttl_s": 0.4}))
    c = kit.client(gw, gw.create_key())
    kit.ask(c, "short lived")
    assert kit.ask(c, "short lived")[1] == "hit"
    time.sleep(0.6)
    assert kit.ask(c, "short lived")[1] == "miss"
    assert upstream.calls == 2


def test_degraded_answers_are_not_stored(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream, fallback_message="Busy, try later."))
    c = kit.client(gw, gw.create_key())
    upstream.push(*[Behavior(kind="status", status=503)] * 3)
    raw = c.chat.completions.with_raw_response.create(
        model="chat", temperature=0, messages=[{"role": "user", "content": "while down"}])
    assert raw.headers["x-bastion-degraded"] == "static"
    assert raw.parse().choices[0].message.content == "Busy, try later."
    upstream.script.clear()
    assert kit.ask(c, "while down") == ("You said: while down", "miss")
    assert kit.ask(c, "while down")[1] == "hit"


def test_hits_are_recorded_as_cached_and_free(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream))
    key_id_and_key = gw.run(gw.gateway.keys.create("t"))
    c = kit.client(gw, key_id_and_key.key)
    kit.ask(c, "count me")
    kit.ask(c, "count me")
    gw.run(gw.gateway.recorder.flush())
    usage = gw.run(gw.gateway.db.usage_totals(key_id_and_key.record.id))
    assert usage.requests == 2
    assert usage.completion_tokens > 0
    first_only = usage.completion_tokens
    kit.ask(c, "count me")
    gw.run(gw.gateway.recorder.flush())
    assert gw.run(gw.gateway.db.usage_totals(key_id_and_key.record.id)).completion_tokens \
        == first_only


def test_stale_answer_when_every_target_fails(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream, {"ttl_s": 0.3, "stale_ttl_s": 30},
                                  resilience={"retry": {"max_attempts": 1},
                                              "degrade": ["cache"]}))
    c = kit.client(gw)
    kit.ask(c, "keep me")
    time.sleep(0.5)
    upstream.default = Behavior(kind="status", status=500)
    raw = c.chat.completions.with_raw_response.create(
        model="chat", temperature=0, messages=[{"role": "user", "content": "keep me"}])
    assert raw.headers["x-bastion-degraded"] == "cache"
    assert raw.headers["x-bastion-cache"] == "stale"
    assert raw.parse().choices[0].message.content == "You said: keep me"
    # Another tenant has no stale answer: the error stands.
    with pytest.raises(openai.APIStatusError):
        kit.ask(kit.client(gw, team="other"), "keep me")
    upstream.default = Behavior()
    assert kit.ask(c, "keep me")[1] == "miss"  # the stale answer was not stored back
    assert kit.ask(c, "keep me")[1] == "hit"
