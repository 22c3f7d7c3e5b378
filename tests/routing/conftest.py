"""Fixtures of the routing tests: gateways in front of several fake upstreams."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import openai

from bastion.testing import FakeUpstream, GatewayServer

SAY = [{"role": "user", "content": "hello"}]


def routing_settings(upstreams: dict[str, FakeUpstream], alias: dict[str, Any] | None = None,
                     **top: Any) -> dict[str, Any]:
    """An ``openai_compatible`` provider per ``name -> upstream`` and a ``chat`` alias
    over ``name/name-model`` for each, with ``alias`` merged in."""
    chat: dict[str, Any] = {
        "targets": [f"{n}/{n}-model" for n in upstreams],
        "timeout_ms": {"connect": 1000, "first_byte": 5000, "total": 10000}}
    chat.update(alias or {})
    cfg: dict[str, Any] = {
        "providers": {n: {"type": "openai_compatible", "base_url": up.base_url}
                      for n, up in upstreams.items()},
        "models": {"chat": chat}}
    cfg.update(top)
    return cfg


def served_by(upstreams: dict[str, FakeUpstream]) -> Counter[str]:
    return Counter({n: up.calls for n, up in upstreams.items()})


async def burst(gw: GatewayServer, key: str, n: int, concurrency: int,
                messages: Any = None, model: str = "chat") -> list[str]:
    """``n`` chat requests, ``concurrency`` at a time; the model that answered each."""
    sem = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0,
                                  timeout=30) as client:
        async def one() -> str:
            async with sem:
                r = await client.chat.completions.create(model=model,
                                                         messages=messages or SAY)
                return r.model

        return await asyncio.gather(*(one() for _ in range(n)))


def request_lines(captured: Any) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in captured.getvalue().splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("event") == "request" and "alias" in x]
