"""After Redis restarts, the gateway is back on it within a second of Redis answering:
pooled connections that died with the old Redis are retried once on a fresh one, and
a Redis marked down is probed rather than waited out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from tests.private_services import PrivateRedis

from bastion.testing import FakeUpstream, GatewayServer

from .conftest import traffic_config


async def burst(base_url: str, key: str, n: int) -> list[int]:
    async with httpx.AsyncClient(timeout=10) as c:
        async def one(i: int) -> int:
            r = await c.post(base_url + "/chat/completions",
                             headers={"Authorization": f"Bearer {key}"},
                             json={"model": "chat", "max_tokens": 5,
                                   "messages": [{"role": "user", "content": f"hi {i}"}]})
            return r.status_code
        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_budgets_work_again_within_a_second_of_redis_returning(
        private_redis: PrivateRedis) -> None:
    with FakeUpstream() as up:
        cfg: dict[str, Any] = traffic_config({"up": up.base_url + "/v1"},
                                             redis_url=private_redis.url)
        with GatewayServer(cfg) as gw:
            key = gw.create_key(budget_usd=100.0)
            # many pooled connections, all of which die with the restart
            assert asyncio.run(burst(gw.openai_base_url, key, 40)) == [200] * 40
            private_redis.restart()
            back = time.monotonic()
            first_ok = None
            codes = []
            while time.monotonic() - back < 4:
                code = asyncio.run(burst(gw.openai_base_url, key, 1))[0]
                codes.append(code)
                if code == 200 and first_ok is None:
                    first_ok = time.monotonic() - back
                if code != 200:
                    first_ok = None  # it must stay recovered
                time.sleep(0.05)
            assert first_ok is not None, f"never recovered: {codes}"
            assert first_ok < 1.0, f"recovered only after {first_ok:.2f} s: {codes}"
