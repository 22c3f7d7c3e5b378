"""Two real `bastion serve` processes sharing Redis (and a SQLite file for keys and usage)
enforce one key's rate limit and one key's budget together."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import redis
import yaml

from bastion.testing import FakeUpstream

MASTER = "replica-test-master-key-0123456789"
WORST_USD = 0.015  # see test_traffic_budget: 10 prompt tokens + max_tokens=5, $0.001 a token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


REDIS_URL = os.environ.get("BASTION_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_or_skip() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return
    except OSError:
        if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
            pytest.fail("Redis is not reachable and BASTION_REQUIRE_SERVICES=1 requires it")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two gateway processes, shared by this module's tests (each test uses its own key)."""
    redis_or_skip()
    tmp_path = tmp_path_factory.mktemp("replicas")
    redis_prefix = f"test:traffic:{uuid.uuid4().hex}:"
    up = FakeUpstream().start()
    cfg = {
        "state": {"database": f"sqlite:///{tmp_path / 'shared.db'}", "redis": REDIS_URL,
                  "replicas": 2},
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": [{"target": "up/gpt-4o-mini", "price": {
            "input_per_mtok": 1000.0, "output_per_mtok": 1000.0}}]}},
        "traffic": {"window_s": 30, "redis_prefix": redis_prefix,
                    "on_redis_error": {"timeout_ms": 5000}},
        "logging": {"level": "warning"},
    }
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "BASTION_MASTER_KEY": MASTER,
           "BASTION_KEY_HASH_SECRET": "replica-test-hash-secret"}
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            port = free_port()
            procs.append(subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "bastion.cli", "serve", "--config", str(path),
                 "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            wait_ready(url, proc)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        up.stop()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=redis_prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def admin(url: str, method: str, path: str, **kw: Any) -> Any:
    r = httpx.request(method, url + path, headers={"Authorization": f"Bearer {MASTER}"},
                      timeout=10, **kw)
    r.raise_for_status()
    return r.json()


def ask(c: openai.OpenAI, text: str) -> tuple[int, str | None]:
    try:
        c.chat.completions.create(model="chat", max_tokens=5,
                                  messages=[{"role": "user", "content": text}])
    except openai.APIStatusError as e:
        return e.status_code, e.code
    return 200, None


async def ask_async(c: openai.AsyncOpenAI, text: str) -> tuple[int, str | None]:
    try:
        await c.chat.completions.create(model="chat", max_tokens=5,
                                        messages=[{"role": "user", "content": text}])
    except openai.APIStatusError as e:
        return e.status_code, e.code
    return 200, None


def clients(urls: list[str], key: str) -> list[openai.OpenAI]:
    return [openai.OpenAI(base_url=u + "/v1", api_key=key, max_retries=0, timeout=20)
            for u in urls]


def test_two_processes_share_one_rpm_limit(replicas: list[str]) -> None:
    one, _ = replicas
    key = admin(one, "POST", "/admin/keys", json={"name": "shared-rpm", "rpm": 6})["key"]
    cs = clients(replicas, key)
    results = [ask(cs[i % 2], f"hello {i}") for i in range(10)]
    assert results[:6] == [(200, None)] * 6
    assert results[6:] == [(429, "rate_limit_exceeded")] * 4
    assert ask(cs[1], "once more") == (429, "rate_limit_exceeded")


def test_two_processes_share_one_budget(replicas: list[str]) -> None:
    one, two = replicas
    budget = 20 * WORST_USD
    made = admin(one, "POST", "/admin/keys", json={"name": "shared-budget",
                                                   "budget_usd": budget})
    key, key_id = made["key"], made["id"]

    async def burst() -> list[tuple[int, str | None]]:
        acs = [openai.AsyncOpenAI(base_url=u + "/v1", api_key=key, max_retries=0, timeout=20)
               for u in replicas]
        try:
            return await asyncio.gather(*(ask_async(acs[i % 2], f"hello {100 + i}")
                                          for i in range(80)))
        finally:
            for c in acs:
                await c.close()

    results = asyncio.run(burst())
    # then one at a time on both, until the budget is used up
    cs = clients(replicas, key)
    for i in range(60):
        results.append(ask(cs[i % 2], f"hello {300 + i}"))
    ok = sum(1 for r in results if r[0] == 200)
    assert all(r in ((200, None), (429, "budget_exceeded")) for r in results)
    time.sleep(0.5)  # let both processes write their usage rows
    spent = admin(two, "GET", f"/admin/keys/{key_id}/usage")["spend_usd"]
    assert ok >= 20
    assert budget - WORST_USD < spent <= budget + 1e-9
