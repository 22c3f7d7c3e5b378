"""Sticky routing: conversations and users stay on one target while it is healthy and
move (only they, each to its own second choice) when its breaker opens; the ranking
itself: weights' shares and minimal movement."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import openai

from bastion.config.settings import Price
from bastion.core.context import Context, Identity
from bastion.core.types import ChatRequest, Message
from bastion.providers.base import CallTimeouts
from bastion.providers.fake import FakeProvider
from bastion.routing.sticky import HEAD_CHARS, conversation_key, digest64, rendezvous, user_key
from bastion.steps.route import Target
from bastion.testing import Behavior, FakeUpstream, GatewayServer

from .conftest import request_lines, routing_settings


def conversation(i: int) -> list[dict[str, Any]]:
    return [{"role": "system", "content": f"You support customer {i}. Be brief."},
            {"role": "user", "content": f"My order {i} has not arrived."}]


def test_conversations_stay_on_one_target_and_move_when_its_breaker_opens(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    captured: Any,
) -> None:
    ups = {"a": upstream_factory(), "b": upstream_factory(), "c": upstream_factory()}
    gw = gateway_factory(routing_settings(
        ups, {"routing": "least_busy", "sticky": "conversation"},
        resilience={"breaker": {"failure_threshold": 2, "cooldown_ms": 60000}}))
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                           max_retries=0, timeout=10)
    chats = [conversation(i) for i in range(20)]

    def turns(n: int) -> list[list[str]]:
        """``n`` more turns of every conversation; the model that answered each."""
        served: list[list[str]] = [[] for _ in chats]
        for _ in range(n):
            for i, msgs in enumerate(chats):
                r = client.chat.completions.create(model="chat", messages=msgs)  # type: ignore[arg-type]
                served[i].append(r.model)
                msgs += [{"role": "assistant", "content": r.choices[0].message.content},
                         {"role": "user", "content": f"and now? ({len(msgs)})"}]
        return served

    healthy = turns(3)
    home = [s[0] for s in healthy]
    assert all(len(set(s)) == 1 for s in healthy)  # one target per conversation
    assert len(set(home)) == 3  # and the conversations spread over all three
    lines = request_lines(captured)
    assert {x["decisions"]["routing"]["why"] for x in lines} == {"sticky conversation"}

    ups["a"].default = Behavior("status", status=500)  # a goes down
    down = turns(3)
    assert all(len(set(s[1:])) == 1 for s in down)  # each settles on one target again
    for was, now in zip(home, down, strict=True):
        if was != "a-model":
            assert set(now) == {was}  # untouched by a's outage
        else:
            assert now[-1] != "a-model"  # moved to its own second choice
    moved = [now[-1] for was, now in zip(home, down, strict=True) if was == "a-model"]
    assert moved
    assert ups["a"].calls == home.count("a-model") * 3 + 2  # 2 failures opened the breaker
    breakers = httpx.get(gw.base_url + "/admin/breakers",
                         headers={"Authorization": f"Bearer {gw.master_key}"}).json()
    assert {b["target"]: b["state"] for b in breakers["data"]}["a/a-model"] == "open"


def test_a_user_stays_on_one_target(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
) -> None:
    ups = {"a": upstream_factory(), "b": upstream_factory()}
    gw = gateway_factory(routing_settings(ups, {"routing": "weighted", "sticky": "user"}))
    key = gw.create_key()

    async def run() -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        async with openai.AsyncOpenAI(base_url=gw.openai_base_url, api_key=key,
                                      max_retries=0) as c:
            for user in (f"user-{i}" for i in range(16)):
                for n in range(4):
                    r = await c.chat.completions.create(
                        model="chat", user=user,
                        messages=[{"role": "user", "content": f"question {n}"}])
                    out.setdefault(user, set()).add(r.model)
        return out

    served = asyncio.run(run())
    assert all(len(models) == 1 for models in served.values())
    assert {m for models in served.values() for m in models} == {"a-model", "b-model"}


def _targets(*names: str) -> list[Target]:
    return [Target(name=n, provider=FakeProvider(n), model=n, price=Price(),
                   timeouts=CallTimeouts(1, 1, 1)) for n in names]


def test_rendezvous_gives_each_target_its_weights_share_and_moves_only_the_lost_keys() -> None:
    targets = _targets("p/a", "p/b", "p/c")
    weights = {"p/a": 3.0, "p/b": 1.0, "p/c": 0.0}
    seeds = {t.name: digest64(t.name) for t in targets}
    keys = [digest64(f"conversation {i}") for i in range(20000)]
    first = [rendezvous(k, targets, weights, seeds)[0].name for k in keys]
    share = Counter(first)
    assert abs(share["p/a"] / 20000 - 0.75) < 0.015
    assert share["p/c"] == 0  # weight 0: only ever a fallback
    without_a = [rendezvous(k, targets[1:], weights, seeds)[0].name for k in keys]
    for before, after, k in zip(first, without_a, keys, strict=True):
        if before != "p/a":
            assert after == before  # keys of the targets that stayed do not move
        else:
            assert after == rendezvous(k, targets, weights, seeds)[1].name


def _ctx(messages: list[Message], **kw: Any) -> Context:
    return Context(request=ChatRequest(model="chat", messages=messages, **kw),
                   request_id="r", identity=Identity(key_id="key_1"))


def test_sticky_keys() -> None:
    start = [Message(role="system", content="rules"), Message(role="user", content="hi")]
    later = [*start, Message(role="assistant", content="hello"),
             Message(role="user", content="more")]
    assert conversation_key(_ctx(start)) == conversation_key(_ctx(later))
    other = [Message(role="system", content="rules"), Message(role="user", content="bye")]
    assert conversation_key(_ctx(other)) != conversation_key(_ctx(start))
    # only the head of a long start counts (prompt caches match prefixes)
    long_a = [Message(role="user", content="x" * HEAD_CHARS + "a")]
    long_b = [Message(role="user", content=[{"type": "text", "text": "x" * HEAD_CHARS + "b"}])]
    assert conversation_key(_ctx(long_a)) == conversation_key(_ctx(long_b))
    # the client's own prompt-cache key wins
    assert conversation_key(_ctx(start, prompt_cache_key="k1")) == conversation_key(
        _ctx(other, prompt_cache_key="k1"))
    # user: the identity's user, else the request's, else the key
    ctx = _ctx(start, user="u1")
    assert user_key(ctx) == digest64("u1")
    ctx.identity = Identity(key_id="key_1", user="alice")
    assert user_key(ctx) == digest64("alice")
    assert user_key(_ctx(start)) == digest64("key:key_1")
