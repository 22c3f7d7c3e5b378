"""The acceptance scenarios of the route, over real HTTP: the official openai SDK in
front of a real gateway in front of FakeUpstream servers that fail on cue."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer

SAY = [{"role": "user", "content": "hello"}]


def client(gw: GatewayServer, timeout: float = 30.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0,
                         timeout=timeout)


def ask(c: openai.OpenAI) -> Any:
    return c.chat.completions.with_raw_response.create(model="chat", messages=SAY)  # type: ignore[arg-type]


def test_failing_primary_opens_its_breaker_and_traffic_returns_after_recovery(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    primary, secondary = upstream_factory(), upstream_factory()
    primary.default = Behavior("status", status=500)
    gw = gateway_factory(settings_for(
        {"primary": primary.base_url, "secondary": secondary.base_url},
        resilience={"breaker": {"failure_threshold": 3, "cooldown_ms": 400}}))
    c = client(gw)
    for _ in range(8):
        r = ask(c).parse()
        assert r.model == "secondary-model"
        assert r.choices[0].message.content == "You said: hello"
    assert primary.calls == 3  # then the breaker opened: no calls while open
    breakers = httpx.get(gw.base_url + "/admin/breakers",
                         headers={"Authorization": f"Bearer {gw.master_key}"}).json()
    state = {b["target"]: b["state"] for b in breakers["data"]}
    assert state == {"primary/primary-model": "open", "secondary/secondary-model": "closed"}
    time.sleep(0.45)
    assert ask(c).parse().model == "secondary-model"  # the half-open probe failed
    assert primary.calls == 4
    assert ask(c).parse().model == "secondary-model"
    assert primary.calls == 4  # open again
    primary.default = Behavior()  # the provider recovers
    time.sleep(0.45)
    served = [ask(c).parse().model for _ in range(5)]
    assert served == ["primary-model"] * 5
    assert primary.calls == 9
    metrics = httpx.get(gw.base_url + "/metrics").text
    assert 'bastion_breaker_state{target="primary/primary-model"} 0.0' in metrics
    assert 'bastion_fallbacks_total{alias="chat"} 10.0' in metrics


def test_429_with_retry_after_is_retried_after_the_advised_delay(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    up = upstream_factory()
    up.push(Behavior("status", status=429, retry_after="1"),
            Behavior("status", status=429, retry_after="1"))
    gw = gateway_factory(settings_for({"only": up.base_url}))
    r = ask(client(gw))
    assert r.http_response.status_code == 200
    assert r.parse().choices[0].message.content == "You said: hello"
    assert up.calls == 3
    at = [rec.at for rec in up.received]
    assert at[1] - at[0] >= 0.95
    assert at[2] - at[1] >= 0.95
    metrics = httpx.get(gw.base_url + "/metrics").text
    assert 'bastion_retries_total{target="only/only-model"} 2.0' in metrics


def test_rate_limit_reset_header_is_honoured(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    up = upstream_factory()
    up.push(Behavior("status", status=429, headers={"x-ratelimit-reset-requests": "400ms"}))
    gw = gateway_factory(settings_for({"only": up.base_url}))
    assert ask(client(gw)).http_response.status_code == 200
    assert up.received[1].at - up.received[0].at >= 0.38


def test_advice_longer_than_the_deadline_fails_fast(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    up = upstream_factory()
    up.push(Behavior("status", status=429, retry_after="30"))
    gw = gateway_factory(settings_for({"only": up.base_url},
                               alias={"timeout_ms": {"first_byte": 1000, "total": 3000}}))
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as e:
        ask(client(gw))
    assert time.monotonic() - started < 2.5
    assert e.value.status_code == 503
    assert e.value.response.headers["retry-after"] == "30"
    assert up.calls == 1


def test_hanging_primary_answers_from_the_secondary_within_the_first_byte_timeout(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    primary, secondary = upstream_factory(), upstream_factory()
    primary.default = Behavior("hang", delay_s=1.0)
    gw = gateway_factory(settings_for(
        {"primary": primary.base_url, "secondary": secondary.base_url},
        alias={"timeout_ms": {"connect": 500, "first_byte": 600, "total": 10000}}))
    c = client(gw)
    for stream in (False, True):
        started = time.monotonic()
        if stream:
            chunks = list(c.chat.completions.create(model="chat", messages=SAY,  # type: ignore[arg-type]
                                                    stream=True))
            assert "".join(ch.choices[0].delta.content or "" for ch in chunks
                           if ch.choices) == "You said: hello"
        else:
            assert ask(c).parse().model == "secondary-model"
        elapsed = time.monotonic() - started
        assert 0.55 <= elapsed < 0.6 + 1.5  # the first-byte timeout plus the secondary


@pytest.mark.parametrize("behavior", [
    Behavior("status", status=502), Behavior("status", status=503), Behavior("reset"),
    Behavior("malformed"), Behavior("slow_first_byte", delay_s=1.0),
])
@pytest.mark.parametrize("stream", [False, True])
def test_failures_before_the_first_byte_fall_back_transparently(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]], behavior: Behavior, stream: bool,
) -> None:
    primary, secondary = upstream_factory(), upstream_factory()
    primary.default = behavior
    gw = gateway_factory(settings_for(
        {"primary": primary.base_url, "secondary": secondary.base_url},
        alias={"timeout_ms": {"connect": 500, "first_byte": 500, "total": 10000}}))
    c = client(gw)
    if stream and behavior.kind == "malformed":
        # the fake's bad frame comes after the first chunk: too late to fall back
        with pytest.raises(openai.APIError, match="stopped answering part-way"):
            list(c.chat.completions.create(model="chat", messages=SAY, stream=True))  # type: ignore[arg-type]
        assert secondary.calls == 0
    elif stream:
        chunks = list(c.chat.completions.create(model="chat", messages=SAY,  # type: ignore[arg-type]
                                                stream=True))
        assert {ch.model for ch in chunks} == {"secondary-model"}
    else:
        assert ask(c).parse().model == "secondary-model"
    assert primary.calls == 1


def test_connection_refused_falls_back(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]], closed_port: int,
) -> None:
    secondary = upstream_factory()
    gw = gateway_factory(settings_for({"down": f"http://127.0.0.1:{closed_port}",
                                "secondary": secondary.base_url}))
    assert ask(client(gw)).parse().model == "secondary-model"


def test_every_target_down_serves_the_static_message_marked_degraded(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]], closed_port: int,
) -> None:
    up = upstream_factory()
    up.default = Behavior("status", status=500)
    message = "Our assistant is busy right now. Please try again in a minute."
    gw = gateway_factory(settings_for({"a": up.base_url, "b": f"http://127.0.0.1:{closed_port}"},
                               alias={"fallback_message": message}))
    c = client(gw)
    r = ask(c)
    assert r.headers["x-bastion-degraded"] == "static"
    assert r.parse().choices[0].message.content == message
    chunks = list(c.chat.completions.create(model="chat", messages=SAY, stream=True))  # type: ignore[arg-type]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == message


def test_every_target_down_without_a_degraded_answer_is_a_friendly_503(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]], closed_port: int,
) -> None:
    up = upstream_factory()
    up.default = Behavior("status", status=500, body=b'{"error": {"message": "db-7.internal '
                                                      b'exploded: sk-live-abcdefabcdef"}}')
    gw = gateway_factory(settings_for({"a": up.base_url, "b": f"http://127.0.0.1:{closed_port}"}))
    key = gw.create_key()
    for stream in (False, True):
        r = httpx.post(gw.openai_base_url + "/chat/completions",
                       headers={"Authorization": f"Bearer {key}"},
                       json={"model": "chat", "messages": SAY, "stream": stream})
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) >= 1
        err = r.json()["error"]
        assert err["code"] == "upstream_unavailable"
        assert err["message"].startswith("The AI service is temporarily unavailable")
        for leak in ("internal", "sk-live", "127.0.0.1", str(closed_port), "Traceback"):
            assert leak not in r.text


def test_stream_cut_after_the_first_byte_ends_with_an_error_event(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    primary, secondary = upstream_factory(), upstream_factory()
    primary.push(Behavior("cut_stream"), Behavior("stall_stream", delay_s=1.0))
    gw = gateway_factory(settings_for(
        {"primary": primary.base_url, "secondary": secondary.base_url},
        resilience={"stream_idle_timeout_ms": 300}))
    key = gw.create_key()
    long = [{"role": "user", "content": "tell me a long story " * 5}]
    for _ in range(2):  # a cut, then a stall past the idle timeout
        with httpx.stream("POST", gw.openai_base_url + "/chat/completions",
                          headers={"Authorization": f"Bearer {key}"}, timeout=10,
                          json={"model": "chat", "messages": long, "stream": True}) as r:
            frames = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert frames[-1] == "data: [DONE]"
        assert '"code":"upstream_unavailable"' in frames[-2]
        assert '"content"' in frames[1]  # some text reached the client before the break
    assert secondary.calls == 0  # never retried after the first byte


def test_deadline_bounds_retries_and_fallbacks_together(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    a, b = upstream_factory(), upstream_factory()
    a.default = b.default = Behavior("hang", delay_s=1.0)
    gw = gateway_factory(settings_for({"a": a.base_url, "b": b.base_url},
                               alias={"timeout_ms": {"first_byte": 600, "total": 900}}))
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError):
        ask(client(gw))
    assert time.monotonic() - started < 0.9 + 0.5
    assert a.calls == 1
    assert b.calls == 1


def test_local_model_answers_when_the_cloud_is_down(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    cloud, local = upstream_factory(), upstream_factory()
    cloud.default = Behavior("status", status=503)
    settings = settings_for({"cloud": cloud.base_url},
                            alias={"fallback_message": "busy",
                                   "resilience": {"local_fallback": "ollama/llama3.2"}})
    settings["providers"]["ollama"] = {"type": "openai_compatible", "base_url": local.base_url}
    gw = gateway_factory(settings)
    r = ask(client(gw))
    assert r.headers["x-bastion-degraded"] == "local"
    assert r.parse().model == "llama3.2"
    assert r.parse().choices[0].message.content == "You said: hello"


def test_phi_skips_targets_without_a_baa(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    plain, covered = upstream_factory(), upstream_factory()
    gw = gateway_factory(settings_for({"plain": plain.base_url, "covered": covered.base_url},
                               providers={"covered": {"compliance": {"baa": True}}}))
    from bastion.core.context import Context
    from bastion.core.types import ChatRequest, Message

    async def run(classes: set[str]) -> str | None:
        ctx = Context(request=ChatRequest(model="chat", messages=[Message("user", "x")]),
                      request_id="phi-test", data_classes=classes)
        await gw.gateway.route(ctx)
        return ctx.target

    assert gw.run(run(set())) == "plain/plain-model"
    assert gw.run(run({"phi"})) == "covered/covered-model"
    assert plain.calls == 1


def test_failure_logs_carry_no_prompt_and_no_key(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]], captured_logs: Any,
) -> None:
    import json

    primary, secondary = upstream_factory(), upstream_factory()
    primary.default = Behavior("status", status=500)
    gw = gateway_factory(settings_for(
        {"primary": primary.base_url, "secondary": secondary.base_url}))
    key = gw.create_key()
    secret = "my card is 4111 1111 1111 1111 and the secret word is pumpernickel"
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
    c.chat.completions.create(model="chat", messages=[{"role": "user", "content": secret}])
    text = captured_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    failures = [ln for ln in lines if ln["event"] == "upstream_failure"]
    assert failures
    assert failures[0]["target"] == "primary/primary-model"
    assert failures[0]["provider_status"] == 500
    assert failures[0]["payload"]["items"] == 1
    request_line = next(ln for ln in lines if ln["event"] == "request")
    assert request_line["target"] == "secondary/secondary-model"
    assert request_line["decisions"]["fallback"] == 1
    assert "pumpernickel" not in text
    assert "4111" not in text
    assert key not in text
    assert key[:12] not in text
