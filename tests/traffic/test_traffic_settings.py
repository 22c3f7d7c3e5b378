"""Each ``traffic`` setting changes what the gateway admits, over real HTTP: the official
openai SDK, a real gateway, FakeUpstream providers (and a real Redis where the setting
is about it)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
from aiohttp import web

from bastion.core.types import ChatRequest, Message
from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.loopthread import LoopThread
from bastion.traffic.tokens import count_chat

from .conftest import traffic_config

PRICED = [{"target": "up/gpt-4o-mini",
           "price": {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}}]  # $0.001 a token
SAY = [{"role": "user", "content": "hi"}]
Factory = Callable[[dict[str, Any]], GatewayServer]
UpFactory = Callable[[], FakeUpstream]


def client(gw: GatewayServer, **key: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(**key),
                         max_retries=0, timeout=20)


def refusal(c: openai.OpenAI, **kw: Any) -> openai.RateLimitError:
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="chat", messages=SAY, **kw)  # type: ignore[arg-type]
    return e.value


# Where a limit is set → the traffic section that sets it, and who the refusal names.
SCOPES: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "defaults.key": (lambda lim: {"defaults": {"key": lim}}, "this api key"),
    "defaults.user": (lambda lim: {"defaults": {"user": lim}}, "this key's user"),
    "defaults.team": (lambda lim: {"defaults": {"team": lim}}, "this key's team"),
    "users.*": (lambda lim: {"users": {"ann": lim}}, "this key's user"),
    "teams.*": (lambda lim: {"teams": {"red": lim}}, "this key's team"),
}
# A limit → its value, the refusal's code and words. "hi" with max_tokens=5 (13 tokens,
# at most $0.013) fits every one of them; with max_tokens=50 (58 tokens) none does.
LIMITS: dict[str, tuple[float, str, str]] = {
    "rpm": (1, "rate_limit_exceeded", "over its limit of 1 requests"),
    "tpm": (30, "rate_limit_exceeded", "more than the 30 tokens"),
    "daily_tokens": (30, "budget_exceeded", "has used up its daily tokens"),
    "monthly_tokens": (30, "budget_exceeded", "has used up its monthly tokens"),
    "budget_usd": (0.02, "budget_exceeded", "has a budget too small"),
}


@pytest.mark.parametrize("field", LIMITS)
@pytest.mark.parametrize("scope", SCOPES)
def test_client_limits(upstream_factory: UpFactory, gateway_factory: Factory, scope: str,
                       field: str) -> None:
    up = upstream_factory()
    value, code, words = LIMITS[field]
    section, who = SCOPES[scope]
    gw = gateway_factory(traffic_config({"up": up.base_url}, targets=PRICED,
                                        traffic=section({field: value})))
    c = client(gw, user="ann", team="red")
    c.chat.completions.create(model="chat", messages=SAY, max_tokens=5)  # type: ignore[arg-type]
    e = refusal(c, max_tokens=50)
    assert e.code == code
    assert words in e.message
    assert who in e.message.lower()
    assert up.calls == 1


def budget_retry_after(gw: GatewayServer, **key: Any) -> str | None:
    """The Retry-After of a request refused by a $0.001 budget (``None``: no header)."""
    e = refusal(client(gw, user="ann", team="red", **key), max_tokens=5)
    assert e.code == "budget_exceeded"
    return e.response.headers.get("retry-after")


@pytest.mark.parametrize("period", [None, "day", "month"])
@pytest.mark.parametrize("scope", [s for s in SCOPES if s != "defaults.key"])
def test_budget_period(upstream_factory: UpFactory, gateway_factory: Factory, scope: str,
                       period: str | None) -> None:
    """A lifetime budget never comes back (no Retry-After); a daily or monthly one does
    when its period ends."""
    up = upstream_factory()
    limits: dict[str, Any] = {"budget_usd": 0.001}
    if period is not None:
        limits["budget_period"] = period
    gw = gateway_factory(traffic_config({"up": up.base_url}, targets=PRICED,
                                        traffic=SCOPES[scope][0](limits)))
    check_period(budget_retry_after(gw), period)


def check_period(retry_after: str | None, period: str | None) -> None:
    if period is None:
        assert retry_after is None
    else:
        assert retry_after is not None
        assert 1 <= int(retry_after) <= (86400 if period == "day" else 31 * 86400)


@pytest.mark.parametrize("period", [None, "day", "month"])
def test_key_budget_period(upstream_factory: UpFactory, gateway_factory: Factory,
                           period: str | None) -> None:
    """The period of keys' budgets: the key's own (``--budget-usd``) and the default."""
    up = upstream_factory()
    traffic: dict[str, Any] = {"defaults": {"key": {"budget_usd": 0.001}}}
    if period is not None:
        traffic["key_budget_period"] = period
    gw = gateway_factory(traffic_config({"up": up.base_url}, targets=PRICED, traffic=traffic))
    check_period(budget_retry_after(gw), period)  # the default budget
    check_period(budget_retry_after(gw, budget_usd=0.002), period)  # the key's own


def test_client_priority(upstream_factory: UpFactory, gateway_factory: Factory) -> None:
    """Waiting for provider capacity, higher priorities go first: a team entry's (10),
    the teams' default (5), the users' default (3), then a key with neither (0)."""
    up = upstream_factory()
    cfg = traffic_config({"up": up.base_url},
                         traffic={"window_s": 0.5, "teams": {"vip": {"priority": 10}},
                                  "defaults": {"team": {"priority": 5},
                                               "user": {"priority": 3}}},
                         providers={"up": {"limits": {"rpm": 1}}},
                         alias={"traffic": {"queue_timeout_ms": 5000}})
    gw = gateway_factory(cfg)
    keys = {"first": gw.create_key(), "none": gw.create_key(),
            "user default": gw.create_key(user="bob"),
            "team default": gw.create_key(team="blue"), "team entry": gw.create_key(team="vip")}

    async def go() -> None:
        async def say(text: str, delay: float) -> None:
            await asyncio.sleep(delay)
            async with openai.AsyncOpenAI(base_url=gw.openai_base_url, api_key=keys[text],
                                          max_retries=0) as c:
                await c.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": text}])

        # the first takes the window's one request; the others queue, lowest first
        await asyncio.gather(*(say(text, 0.08 * i) for i, text in enumerate(keys)))

    asyncio.run(go())
    assert [r.body["messages"][-1]["content"] for r in up.received] == [
        "first", "team entry", "team default", "user default", "none"]


@pytest.mark.parametrize("enabled", [True, False])
def test_traffic_enabled(upstream_factory: UpFactory, gateway_factory: Factory,
                         enabled: bool) -> None:
    up = upstream_factory()
    gw = gateway_factory(traffic_config({"up": up.base_url}, traffic={"enabled": enabled}))
    c = client(gw, rpm=1)
    c.chat.completions.create(model="chat", messages=SAY)  # type: ignore[arg-type]
    if enabled:
        assert refusal(c).code == "rate_limit_exceeded"
    else:  # no limit is counted at all
        c.chat.completions.create(model="chat", messages=SAY)  # type: ignore[arg-type]
        assert up.calls == 2


@pytest.mark.parametrize("rate_limits", ["local", "open"])
def test_on_redis_error_rate_limits(dead_redis: str, upstream_factory: UpFactory,
                                    gateway_factory: Factory, rate_limits: str) -> None:
    up = upstream_factory()
    gw = gateway_factory(traffic_config({"up": up.base_url}, redis_url=dead_redis, traffic={
        "on_redis_error": {"rate_limits": rate_limits}}))
    c = client(gw, rpm=1)
    c.chat.completions.create(model="chat", messages=SAY)  # type: ignore[arg-type]
    if rate_limits == "local":  # counted in this process instead
        assert refusal(c).code == "rate_limit_exceeded"
    else:  # admitted without counting
        c.chat.completions.create(model="chat", messages=SAY)  # type: ignore[arg-type]
        assert up.calls == 2


def test_estimate_over_chars(upstream_factory: UpFactory, gateway_factory: Factory) -> None:
    """Bodies over the threshold are estimated (a token per three bytes), not tokenised:
    the reservation, and so the remaining-tokens header, says which was done."""
    up = upstream_factory()
    text = "a" * 3000  # a few hundred tokens for gpt-4o-mini, a thousand by the estimate
    req = ChatRequest(model="gpt-4o-mini", messages=[Message("user", text)])
    exact, estimate = count_chat(req, "o200k_base"), count_chat(req, "estimate")
    assert estimate > exact + 300
    remaining = {}
    for threshold in (None, 1000):
        traffic = {} if threshold is None else {"estimate_over_chars": threshold}
        gw = gateway_factory(traffic_config({"up": up.base_url}, traffic=traffic))
        raw = client(gw, tpm=100_000).chat.completions.with_raw_response.create(
            model="chat", max_tokens=1, messages=[{"role": "user", "content": text}])
        remaining[threshold] = int(raw.headers["x-ratelimit-remaining-tokens"])
    assert remaining == {None: 100_000 - exact - 1, 1000: 100_000 - estimate - 1}


@pytest.mark.parametrize("hold_s", [None, 0.2])
def test_hold_s(gateway_factory: Factory, hold_s: float | None) -> None:
    """A reservation expires ``hold_s`` after it was made even if the request still runs
    (it is meant for reservations a crash left behind): with a concurrency of one, a
    second request gets in once the first one's place expired."""
    traffic: dict[str, Any] = {"defaults": {"key": {"concurrency": 1}}}
    if hold_s is not None:
        traffic["hold_s"] = hold_s
    gw = gateway_factory({"providers": {"fake": {"type": "fake", "fake": {"latency_ms": 800}}},
                          "models": {"chat": {"targets": ["fake/m"]}}, "traffic": traffic})
    c = client(gw)
    first = threading.Thread(target=lambda: c.chat.completions.create(
        model="chat", messages=SAY))  # type: ignore[arg-type]
    first.start()
    time.sleep(0.4)
    try:
        if hold_s is None:
            assert "1 requests in progress" in refusal(c).message
        else:
            c.chat.completions.create(model="chat", messages=SAY)  # type: ignore[arg-type]
    finally:
        first.join()


@pytest.mark.parametrize(("alias_tokens", "sent"), [(None, 512), (77, 77)])
def test_alias_default_output_tokens(upstream_factory: UpFactory, gateway_factory: Factory,
                                     alias_tokens: int | None, sent: int) -> None:
    """A budgeted request without max_tokens is sent with the reserved allowance: the
    alias's ``default_output_tokens`` over the global one."""
    up = upstream_factory()
    alias = {} if alias_tokens is None else {"traffic": {"default_output_tokens": alias_tokens}}
    gw = gateway_factory(traffic_config({"up": up.base_url}, alias=alias,
                                        traffic={"default_output_tokens": 512}))
    client(gw, budget_usd=5.0).chat.completions.create(model="chat", messages=SAY)  # type: ignore[arg-type]
    assert up.received[0].body["max_tokens"] == sent


class HangingHook:
    """A webhook receiver that never answers; it notes how long each caller waited."""

    def __init__(self) -> None:
        self.waited: list[float] = []
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.thread = LoopThread(app)

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            await asyncio.sleep(30)
        finally:  # the caller gave up: aiohttp cancels this handler
            self.waited.append(time.monotonic() - started)
        return web.Response(status=204)


def test_alert_webhook_timeout_ms(upstream_factory: UpFactory,
                                  gateway_factory: Factory) -> None:
    """The alert webhook is given up after ``webhook_timeout_ms`` (default 2 s)."""
    hook = HangingHook()
    hook.thread.start()
    try:
        up = upstream_factory()
        gw = gateway_factory(traffic_config({"up": up.base_url}, targets=PRICED, traffic={
            "alerts": {"fraction": 0.02, "webhook_url": hook.thread.base_url + "/hook",
                       "webhook_timeout_ms": 200}}))
        client(gw, budget_usd=0.05).chat.completions.create(
            model="chat", messages=SAY, max_tokens=5)  # type: ignore[arg-type]
        deadline = time.monotonic() + 3
        while not hook.waited and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        hook.thread.stop()
    assert len(hook.waited) == 1
    assert 0.15 <= hook.waited[0] < 1.0


@pytest.mark.parametrize(("poll_ms", "fast"), [(50, True), (5000, False)])
def test_queue_poll_ms(request: pytest.FixtureRequest, upstream_factory: UpFactory,
                       gateway_factory: Factory, poll_ms: int, fast: bool) -> None:
    """Two replicas share a provider's 1000 tokens a window through Redis. Replica A's
    request reserves 910 tokens and settles to far fewer when it ends; replica B's,
    queued meanwhile, learns of the room by asking Redis again every ``poll_ms`` (no
    local event tells it), else only when the window would have freed it (2 s)."""
    redis_url = request.getfixturevalue("redis_url")
    up = upstream_factory()
    up.push(Behavior("ok", delay_s=0.5))
    cfg = traffic_config({"up": up.base_url}, redis_url=redis_url,
                         providers={"up": {"limits": {"tpm": 1000}}},
                         alias={"traffic": {"queue_timeout_ms": 5000}},
                         traffic={"window_s": 2, "queue": {"poll_ms": poll_ms},
                                  "redis_prefix": request.getfixturevalue("redis_prefix")})
    a, b = gateway_factory(cfg), gateway_factory(cfg)
    ka, kb = a.create_key(), b.create_key()

    def say(gw: GatewayServer, key: str) -> None:
        openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0,
                      timeout=20).chat.completions.create(
            model="chat", messages=SAY, max_tokens=900)  # type: ignore[arg-type]

    first = threading.Thread(target=say, args=(a, ka))
    first.start()
    time.sleep(0.15)
    started = time.monotonic()
    say(b, kb)
    took = time.monotonic() - started
    first.join()
    if fast:
        assert took < 1.2, took
    else:
        assert took >= 1.5, took
