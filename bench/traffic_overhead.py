"""Traffic-control overhead: CPU per request added by the admit step (limits + budgets).

Builds a real gateway in-process (fake provider, memory database) and drives its
admit step directly, with a terminal that answers at once, so what is measured is
the step alone: counting the prompt (exact tiktoken for gpt-4o-mini), building
the charges, one atomic reservation, the x-ratelimit headers and the settlement.
Scenarios:

  * ``off``        traffic disabled (the baseline: the step is not in the list)
  * ``no limits``  traffic on, a key without limits (counting only)
  * ``memory``     key rpm+tpm+budget, user and team limits, provider rpm/tpm; one process
  * ``redis``      the same through Redis (Lua scripts), ``state.redis`` set

For each: process CPU microseconds per request (``time.process_time``), wall time
per request at the given concurrency, and, for Redis, the Redis server's own CPU per
request (from ``INFO cpu``). The ``cache`` column is the hook for the cache
engineer's lookup overhead (not measured here).

    python bench/traffic_overhead.py [--requests 20000] [--concurrency 64]
        [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from bastion.app import Gateway
from bastion.config.settings import Settings
from bastion.core.context import Context, Reply
from bastion.core.types import ChatRequest, ChatResponse, Choice, Message, Usage
from bastion.traffic import build_gate

PROMPT = "Summarise the following paragraph in one sentence. " * 8


def settings(limited: bool, redis: str | None, prefix: str) -> Settings:
    provider: dict[str, Any] = {"type": "fake"}
    traffic: dict[str, Any] = {"redis_prefix": prefix}
    if limited:
        provider["limits"] = {"rpm": 10**9, "tpm": 10**12}
        traffic |= {"users": {"u": {"rpm": 10**9, "tpm": 10**12, "daily_tokens": 10**12}},
                    "teams": {"t": {"rpm": 10**9, "budget_usd": 10**6}}}
    return Settings.model_validate({
        "state": {"database": "memory://", "redis": redis},
        "providers": {"fake": provider},
        "models": {"chat": {"targets": ["fake/gpt-4o-mini"]}},
        "traffic": traffic,
    })


async def redis_cpu_s(url: str | None) -> float:
    if url is None:
        return 0.0
    import redis.asyncio

    r = redis.asyncio.from_url(url)
    info = await r.info("cpu")
    await r.aclose()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def scenario(name: str, *, enabled: bool, limited: bool, redis: str | None,
                   requests: int, concurrency: int) -> dict[str, Any]:
    prefix = f"bench:traffic:{uuid.uuid4().hex}:"
    gw = Gateway(settings(limited, redis, prefix))
    await gw.start()
    key = await gw.keys.create("bench", user="u", team="t",
                               **({"rpm": 10**9, "tpm": 10**12, "budget_usd": 10**6}
                                  if limited else {}))
    ident = await gw.keys.authenticate(key.key)
    step = build_gate(gw)[1] if enabled else None
    resp = ChatResponse(id="x", model="gpt-4o-mini", choices=[Choice(
        message=Message(role="assistant", content="ok"), finish_reason="stop")])
    usage = Usage(prompt_tokens=60, completion_tokens=20, total_tokens=80)

    async def terminal(ctx: Context) -> Reply:
        ctx.usage = usage
        ctx.cost_usd = 0.0001
        ctx.target = "fake/gpt-4o-mini"
        return Reply(response=resp)

    async def one(i: int) -> None:
        req = ChatRequest(model="chat", max_tokens=100,
                          messages=[Message(role="user", content=PROMPT)])
        ctx = Context(request=req, request_id=str(i), identity=ident)
        if step is None:
            await terminal(ctx)
        else:
            await step(ctx, terminal)

    for i in range(200):  # warm up: encoders, scripts, connections
        await one(i)
    server0 = await redis_cpu_s(redis)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sem = asyncio.Semaphore(concurrency)

    async def bounded(i: int) -> None:
        async with sem:
            await one(i)

    await asyncio.gather(*(bounded(i) for i in range(requests)))
    for hook in gw.on_close:  # let background settlements finish inside the measurement
        await hook()
    gw.on_close.clear()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    server = await redis_cpu_s(redis) - server0
    if redis is not None:
        import redis.asyncio as aredis

        r = aredis.from_url(redis)
        keys = [k async for k in r.scan_iter(match=prefix + "*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    await gw.close()
    return {"scenario": name, "cpu_us": cpu / requests * 1e6, "wall_us": wall / requests * 1e6,
            "redis_server_us": server / requests * 1e6 if redis else None}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    a = ap.parse_args()
    kw = {"requests": a.requests, "concurrency": a.concurrency}
    rows = [
        await scenario("off", enabled=False, limited=False, redis=None, **kw),
        await scenario("no limits", enabled=True, limited=False, redis=None, **kw),
        await scenario("memory", enabled=True, limited=True, redis=None, **kw),
        await scenario("redis", enabled=True, limited=True, redis=a.redis, **kw),
    ]
    base = rows[0]["cpu_us"]
    print(f"{a.requests} requests, concurrency {a.concurrency}; prompt of "
          f"{len(PROMPT)} chars (exact tiktoken count), max_tokens=100")
    print(f"{'scenario':<10} {'CPU µs/req':>11} {'added µs':>9} {'wall µs/req':>12} "
          f"{'redis-server µs/req':>20} {'cache':>6}")
    for r in rows:
        srv = f"{r['redis_server_us']:.1f}" if r["redis_server_us"] is not None else "-"
        print(f"{r['scenario']:<10} {r['cpu_us']:>11.1f} {r['cpu_us'] - base:>9.1f} "
              f"{r['wall_us']:>12.1f} {srv:>20} {'n/a':>6}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
