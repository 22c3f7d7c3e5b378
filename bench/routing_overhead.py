"""Routing overhead: CPU per request the route spends choosing among 10 targets.

Builds a real gateway in-process (fake providers, memory database, traffic control
on with RPM/TPM limits on every target) with one alias per strategy over the same
10 targets, and drives exactly what the route adds per request for routing: the
router's plan (candidates, the strategy's ranking, the decision in the log fields
and the metric), the in-flight lease and the latency sample. The baseline loop
builds the same request contexts and does nothing else; ``added`` is the difference.

Scenarios (each alias over 10 targets): ``ordered``, ``weighted``, ``least_busy``,
``latency``, ``headroom`` (this process's counters), ``sticky conversation`` (2 KB
system prompt hashed), ``experiment`` (weighted, sticky user, arm recorded),
``capabilities`` (a target lists them, the request is scanned), and with
``--redis`` ``headroom redis`` (one Redis read per request: its client-side CPU
counts, and the wall time per request is shown).

    python bench/routing_overhead.py [--requests 20000] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from bastion.app import Gateway
from bastion.config.settings import Settings
from bastion.core.context import Context, Identity
from bastion.core.types import ChatRequest, Message

TARGETS = [f"p{i}/gpt-4o-mini" for i in range(10)]
SYSTEM = "You are the support assistant of Example Inc. Answer briefly. " * 32  # ~2 KB
ALIASES: dict[str, dict[str, Any]] = {
    "ordered": {},
    "weighted": {"routing": "weighted"},
    "least_busy": {"routing": "least_busy"},
    "latency": {"routing": "latency"},
    "headroom": {"routing": "headroom"},
    "sticky conversation": {"routing": "weighted", "sticky": "conversation"},
    "experiment": {"routing": "weighted", "sticky": "user", "experiment": "ab"},
    "capabilities": {"capabilities": True},
}


def settings(redis: str | None, prefix: str) -> Settings:
    models: dict[str, Any] = {}
    for name, extra in ALIASES.items():
        alias = {k: v for k, v in extra.items() if k != "capabilities"}
        targets: list[Any] = [{"target": t, "weight": 1 + i % 3} if "routing" in alias
                              and alias["routing"] == "weighted" else t
                              for i, t in enumerate(TARGETS)]
        if "capabilities" in extra:
            targets[0] = {"target": TARGETS[0], "capabilities": ["tools", "vision"]}
        models[name.replace(" ", "_")] = {**alias, "targets": targets}
    return Settings.model_validate({
        "state": {"database": "memory://", "redis": redis},
        "providers": {f"p{i}": {"type": "fake", "limits": {"rpm": 10**9, "tpm": 10**12}}
                      for i in range(10)},
        "models": models,
        "traffic": {"redis_prefix": prefix},
        "logging": {"level": "warning"},
    })


def context(alias: str, i: int) -> Context:
    req = ChatRequest(model=alias, messages=[
        Message(role="system", content=SYSTEM),
        Message(role="user", content=f"Where is my order {i % 500}?")])
    return Context(request=req, request_id=str(i),
                   identity=Identity(key_id="key_bench", user=f"user-{i % 1000}"))


async def measure(gw: Gateway, alias: str, requests: int) -> tuple[float, float, float]:
    """CPU µs per request with routing, CPU µs of the baseline, wall µs with routing."""
    route = gw.route
    router, compliance, stats = route.router, route.compliance, route.router.stats
    ar = route.alias(alias)
    for i in range(500):  # warm up: metric children, scripts, connections
        await router.plan(context(alias, i), ar, compliance)
    cpu0 = time.process_time()
    for i in range(requests):
        context(alias, i)
    base = time.process_time() - cpu0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(requests):
        plan = await router.plan(context(alias, i), ar, compliance)
        first = plan.targets[0].name
        stats.lease(first).release()
        stats.observe(first, 0.05)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / requests * 1e6, base / requests * 1e6, wall / requests * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--redis", default=None, help="also measure headroom read from Redis")
    a = ap.parse_args()
    rows: list[tuple[str, float, float, float]] = []
    gw = Gateway(settings(None, "bench:"))
    await gw.start()
    for name in ALIASES:
        rows.append((name, *await measure(gw, name.replace(" ", "_"), a.requests)))
    await gw.close()
    if a.redis:
        prefix = f"bench:routing:{uuid.uuid4().hex}:"
        gw = Gateway(settings(a.redis, prefix))
        await gw.start()
        rows.append(("headroom redis", *await measure(gw, "headroom", a.requests)))
        await gw.close()
        import redis.asyncio as aredis

        r = aredis.from_url(a.redis)
        keys = [k async for k in r.scan_iter(match=prefix + "*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    print(f"{a.requests} requests per scenario, 10 targets, one process")
    print(f"{'scenario':<20} {'CPU µs/req':>11} {'baseline':>9} {'added µs':>9} "
          f"{'wall µs/req':>12}")
    for name, cpu, base, wall in rows:
        print(f"{name:<20} {cpu:>11.1f} {base:>9.1f} {cpu - base:>9.1f} {wall:>12.1f}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
