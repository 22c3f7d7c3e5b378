"""What the cache step costs per request: key, lookup, store; memory and Redis backends.

Runs the real :class:`~bastion.cache.step.CacheStep` on a typical request (a system
prompt, one user turn, temperature 0) against a terminal that answers at once, and
reports CPU microseconds (process time) and wall microseconds per request for:

* ``key``: canonical encoding + blake2b hash only;
* ``miss+store``: lookup that misses, then the answer is encoded and stored;
* ``hit``: lookup that hits and decodes the answer;
* ``bypass``: a non-deterministic request (the step only decides not to cache).

    python bench/cache_overhead.py [--redis redis://127.0.0.1:6379/0] [-n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from bastion.cache.base import CacheBackend
from bastion.cache.key import alias_fingerprint, cache_key, canonical_bytes, tenant_scope
from bastion.cache.memory import MemoryBackend
from bastion.cache.step import AliasPolicy, CacheStep
from bastion.core.context import Context, Identity, Reply
from bastion.core.types import ChatRequest, ChatResponse, Choice, Message, Usage

SYSTEM = "You are the support assistant of Example Inc. Answer briefly and politely. " * 4
ANSWER = "Sure! Here is what you can do: " + "open the settings page and follow the steps. " * 8
IDENT = Identity(key_id="key_0123456789abcdef", team="support")


def request(i: int, temperature: float = 0.0) -> ChatRequest:
    return ChatRequest(model="chat", temperature=temperature, messages=[
        Message(role="system", content=SYSTEM),
        Message(role="user", content=f"How do I reset the password of account {i}?")])


async def answer(ctx: Context) -> Reply:
    return Reply(response=ChatResponse(
        id="chatcmpl-bench", model="gpt-test", created=1,
        choices=[Choice(message=Message(role="assistant", content=ANSWER),
                        finish_reason="stop")],
        usage=Usage(prompt_tokens=120, completion_tokens=90, total_tokens=210)))


async def timed(n: int, fn: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        await fn(i)
    return ((time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6)


async def run_backend(name: str, backend: CacheBackend, n: int) -> None:
    policy = AliasPolicy(enabled="auto", ttl_s=600, stale_ttl_s=0, scope="team",
                         fingerprint=alias_fingerprint("chat", ["up/gpt-test"]))
    step = CacheStep({"chat": policy}, backend, 1 << 20)

    def ctx(i: int, temperature: float = 0.0) -> Context:
        return Context(request=request(i, temperature), request_id="r", identity=IDENT)

    async def miss(i: int) -> object:
        return await step(ctx(i), answer)

    async def hit(i: int) -> object:
        return await step(ctx(i), answer)

    async def bypass(i: int) -> object:
        return await step(ctx(i, 0.7), answer)

    async def direct(i: int) -> object:
        return await answer(ctx(i))

    base = await timed(n, direct)
    rows = [("miss+store", await timed(n, miss)), ("hit", await timed(n, hit)),
            ("bypass", await timed(n, bypass))]
    print(f"{name}: (terminal alone, incl. building the request: {base[0]:.1f} µs CPU)")
    for label, (cpu, wall) in rows:
        print(f"  {label:11} {cpu - base[0]:7.1f} µs CPU  {wall - base[1]:7.1f} µs wall "
              "(over the terminal alone)")


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=20000)
    p.add_argument("--redis", default=None)
    args = p.parse_args()
    n = args.n
    fp = alias_fingerprint("chat", ["up/gpt-test"])
    reqs = [request(i) for i in range(n)]
    cpu = time.process_time()
    for r in reqs:
        cache_key(tenant_scope(IDENT, "team"), fp, canonical_bytes(r))
    print(f"key (canonical encode + blake2b): {(time.process_time() - cpu) / n * 1e6:.1f} µs CPU")
    await run_backend("memory", MemoryBackend(100_000, 256 << 20), n)
    if args.redis:
        import redis.asyncio

        from bastion.cache.redis_backend import RedisBackend

        client = redis.asyncio.from_url(args.redis)
        ns = "bastion-bench:" + uuid.uuid4().hex[:8]
        try:
            await run_backend("redis (loopback)", RedisBackend(client, ns, 0.25), min(n, 5000))
        finally:
            async for k in client.scan_iter(match=ns + ":*"):
                await client.delete(k)
            await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
