"""Three ``bastion serve`` replicas behind nginx (the shipped ``deploy/compose/nginx.conf``),
sharing a private Redis and a private PostgreSQL: what the scale-out story promises, under
faults.

* one key's RPM limit and budget hold across the three (never overspent);
* breaker state is shared: a provider one replica saw fail is skipped by the others;
* a replica killed mid-load loses only the requests it was serving: whatever had not
  reached it is retried on another by nginx, and the lost ones get a JSON error;
* Redis restarting mid-load crashes no replica, and every refusal meanwhile is a
  friendly error with a stable code;
* SIGTERM lets a replica's streams finish within ``server.shutdown_timeout_s`` while
  nginx sends new requests to the others.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.private_nginx import PrivateNginx, nginx_available
from tests.private_services import PrivatePostgres, PrivateRedis
from tests.serve_process import ServeProcess

from bastion.testing import Behavior, FakeUpstream

pytestmark = pytest.mark.services

GRACE_S = 10.0  # streams take about 1.5 s: room for a loaded machine
PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}  # $0.001 a token
# About 55 tokens by the provider's count and 107 by the gateway's (so the worst case
# it reserves is above what is billed, as with a real provider's exact count).
DIGITS = "1234567890 " * 20
FRIENDLY = {"rate_limit_exceeded", "budget_exceeded", "service_unavailable",
            "upstream_unavailable"}


@dataclass
class Cluster:
    up: FakeUpstream
    flaky: FakeUpstream
    redis: PrivateRedis
    replicas: list[ServeProcess]
    lb: PrivateNginx

    @property
    def url(self) -> str:
        return self.lb.base_url + "/v1/chat/completions"

    def need(self, *which: int) -> Cluster:
        """Start again (same port) the replicas ``which`` (default: all) if a test
        stopped or killed them; others may stay down (nginx passes their share on)."""
        dead = [r for i, r in enumerate(self.replicas)
                if (not which or i in which) and (r.proc is None or r.proc.poll() is not None)]
        for r in dead:
            r.stop()
            r.start(wait=None)
        for r in dead:
            r.wait_for(r.healthy, 60, "/healthz after a restart")
        if dead:
            self.lb.reload()
        return self


def replica_config(pg_url: str, redis_url: str, up: str, flaky: str) -> dict[str, Any]:
    return {
        "state": {"database": pg_url, "redis": redis_url, "replicas": 3},
        "logging": {"level": "info"},
        "server": {"shutdown_timeout_s": GRACE_S},
        "security": {"auth_throttle": {"client_address_header": "X-Real-IP"}},
        "providers": {"up": {"type": "openai_compatible", "base_url": up + "/v1"},
                      "flaky": {"type": "openai_compatible", "base_url": flaky + "/v1"}},
        "resilience": {"breaker": {"failure_threshold": 3, "cooldown_ms": 60000}},
        "models": {
            "chat": {"targets": [{"target": "up/gpt-4o-mini", "price": PRICE}]},
            "fragile": {"targets": ["flaky/gpt-4o-mini"],
                        "resilience": {"retry": {"max_attempts": 1}, "degrade": []}},
        },
    }


@pytest.fixture(scope="module")
def _cluster(_private_pg_server: PrivatePostgres,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not nginx_available():
        if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
            pytest.fail("nginx is missing, and BASTION_REQUIRE_SERVICES=1 requires it")
        pytest.skip("nginx is not installed (apt-get install nginx); needed for this test")
    if not PrivateRedis.available():
        pytest.skip("redis-server is not installed")
    root = tmp_path_factory.mktemp("replicas")
    up, flaky = FakeUpstream().start(), FakeUpstream().start()
    flaky.default = Behavior(kind="status", status=500)
    redis = PrivateRedis().start()
    pg_url = f"{_private_pg_server.start().url}?schema=s_{uuid.uuid4().hex[:10]}"
    cfg = replica_config(pg_url, redis.url, up.base_url, flaky.base_url)
    env = {"BASTION_KEY_HASH_SECRET": "replicas-test-secret"}
    replicas = []
    for i in range(3):
        (root / f"r{i}").mkdir()
        replicas.append(ServeProcess(cfg, root / f"r{i}", env=env, name=f"r{i}"))
    lb = PrivateNginx([r.port for r in replicas])
    cluster = Cluster(up, flaky, redis, replicas, lb)
    try:
        for r in replicas:
            r.start(wait=None)
        for r in replicas:
            r.wait_for(r.healthy, 60, "/healthz")
        lb.start()
        yield cluster
    finally:
        for r in replicas:
            if r.proc is not None and r.proc.poll() is None:
                r.signal(signal.SIGTERM)  # all at once, then wait for each
        for r in replicas:
            r.stop()
        lb.stop()
        redis.stop()
        up.stop()
        flaky.stop()


@pytest.fixture
def cluster(_cluster: Cluster) -> Cluster:
    _cluster.up.default = Behavior()
    return _cluster


def body(stream: bool = False, content: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": "chat", "max_tokens": 5, "stream": stream,
            "messages": [{"role": "user", "content": content}], **extra}


async def post_all(url: str, key: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as c:
        return list(await asyncio.gather(*(
            c.post(url, json=b, headers={"Authorization": f"Bearer {key}"}) for b in bodies)))


def code_of(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


def test_one_keys_rpm_holds_across_the_three(cluster: Cluster) -> None:
    cluster.need(0, 1, 2)
    _, key = cluster.replicas[0].create_key(rpm=6)
    answers = asyncio.run(post_all(cluster.url, key, [body() for _ in range(18)]))
    statuses = [r.status_code for r in answers]
    assert statuses.count(200) == 6, statuses
    refused = [r for r in answers if r.status_code != 200]
    assert {(r.status_code, code_of(r)) for r in refused} == {(429, "rate_limit_exceeded")}
    assert all("Retry-After" in r.headers for r in refused)
    # nginx spread them over every replica
    assert len({tuple(addrs) for _, addrs in cluster.lb.tried()[-18:]}) == 3


def test_one_keys_budget_is_never_overspent_across_the_three(cluster: Cluster) -> None:
    cluster.need(0, 1, 2)
    budget = 0.3
    key_id, key = cluster.replicas[1].create_key(budget_usd=budget)
    served = 0
    for _ in range(4):  # waves of concurrent requests, each spread over the replicas
        answers = asyncio.run(post_all(cluster.url, key,
                                       [body(content=DIGITS) for _ in range(9)]))
        served += sum(r.status_code == 200 for r in answers)
        assert {code_of(r) for r in answers if r.status_code != 200} <= {"budget_exceeded"}
    assert served >= 3

    def usage() -> dict[str, Any]:
        r = cluster.replicas[2].admin("GET", f"/admin/keys/{key_id}/usage")
        return dict(r.json())

    cluster.replicas[2].wait_for(lambda: usage()["served"] == served, 15,
                                 "every served request in the usage log")
    spend = usage()["spend_usd"]
    assert 0 < spend <= budget
    late = asyncio.run(post_all(cluster.url, key, [body(content=DIGITS)]))[0]
    assert (late.status_code, code_of(late)) == (429, "budget_exceeded")


def test_breaker_state_is_shared(cluster: Cluster) -> None:
    cluster.need(0, 1, 2)
    _, key = cluster.replicas[0].create_key()
    first, *others = cluster.replicas
    fragile = body(model="fragile")
    before = cluster.flaky.calls
    for _ in range(3):  # three failures on one replica open the breaker
        r = httpx.post(first.openai_base_url + "/chat/completions", json=fragile,
                       headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code >= 500
    assert cluster.flaky.calls == before + 3
    for replica in others:
        def is_open(replica: ServeProcess = replica) -> bool:
            r = httpx.post(replica.openai_base_url + "/chat/completions", json=fragile,
                           headers={"Authorization": f"Bearer {key}"}, timeout=10)
            return r.status_code == 503 and code_of(r) == "upstream_unavailable"

        replica.wait_for(is_open, 5, "the shared breaker to refuse")
        states = replica.admin("GET", "/admin/breakers").json()["data"]
        assert [b["state"] for b in states if b["target"] == "flaky/gpt-4o-mini"] == ["open"]
    assert cluster.flaky.calls == before + 3  # the others never called the provider


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | None
    text: str
    error: str | None = None


async def load(url: str, key: str, seconds: float, workers: int,
               request: dict[str, Any]) -> list[Outcome]:
    """``workers`` clients in a loop for ``seconds``; every answer (or client error)."""
    out: list[Outcome] = []
    stop = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=20) as c:
        async def worker() -> None:
            while time.monotonic() < stop:
                t = time.monotonic()
                try:
                    r = await c.post(url, json=request,
                                     headers={"Authorization": f"Bearer {key}"})
                    out.append(Outcome(t, time.monotonic(), r.status_code, r.text))
                except httpx.HTTPError as e:
                    out.append(Outcome(t, time.monotonic(), None, "", repr(e)))

        await asyncio.gather(*(worker() for _ in range(workers)))
    return out


def in_background(fn: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(fn(*args)))
    t.start()
    return t, result


def test_redis_restart_mid_load_crashes_nothing_and_refuses_politely(
        cluster: Cluster) -> None:
    cluster.need(0, 1, 2)
    _, key = cluster.replicas[0].create_key(rpm=100_000, budget_usd=100.0)
    thread, result = in_background(
        lambda: asyncio.run(load(cluster.url, key, 3.0, 6, body())))
    time.sleep(0.8)
    cluster.redis.stop()
    time.sleep(0.8)
    cluster.redis.start()
    back = time.monotonic()
    thread.join(30)
    outcomes: list[Outcome] = result[0]
    assert not [o.error for o in outcomes if o.error], "a client saw a broken connection"
    refused = [o for o in outcomes if o.status != 200]
    for o in refused:
        err = json.loads(o.text)["error"]
        assert (o.status, err["code"]) in {(429, c) for c in FRIENDLY} | {
            (503, c) for c in FRIENDLY}, o.text
        assert err["message"].endswith(".")
        assert "Traceback" not in err["message"]
    assert any(o.status == 200 for o in outcomes if o.ended < back - 0.8)
    after = [o.status for o in outcomes if o.started > back + 1.0]
    assert after
    assert set(after) == {200}, "not back on Redis a second after it returned"
    for r in cluster.replicas:
        assert r.proc is not None
        assert r.proc.poll() is None, f"{r.log_path.name} exited"
        assert r.healthy()
    # and the shared budget works again on every replica
    for r in cluster.replicas:
        def serves(r: ServeProcess = r) -> bool:
            return httpx.post(r.openai_base_url + "/chat/completions", json=body(),
                              headers={"Authorization": f"Bearer {key}"},
                              timeout=10).status_code == 200
        r.wait_for(serves, 5, "a served request after Redis returned")


def test_a_killed_replica_loses_only_what_it_was_serving(cluster: Cluster) -> None:
    cluster.need(0, 2)
    _, key = cluster.replicas[0].create_key()
    cluster.up.default = Behavior(delay_s=0.05)  # requests spend a while in flight
    victim = cluster.replicas[2]
    thread, result = in_background(
        lambda: asyncio.run(load(cluster.url, key, 2.5, 6, body())))
    time.sleep(0.8)
    victim.signal(signal.SIGKILL)
    victim.wait(10)
    # Until the process is gone, a connection can still land in its accept queue and
    # be reset after nginx sent the request: that one is lost too.
    dead_at = time.monotonic()
    thread.join(30)
    outcomes: list[Outcome] = result[0]
    assert not [o.error for o in outcomes if o.error], "a client saw a broken connection"
    lost = [o for o in outcomes if o.status != 200]
    for o in lost:  # only requests the victim was serving: nginx may not resend a POST
        assert o.status == 502
        assert json.loads(o.text)["error"]["code"] == "gateway_unavailable"
        assert o.started < dead_at
    assert len(lost) <= 6
    after = [o for o in outcomes if o.started > dead_at]
    assert after
    assert all(o.status == 200 for o in after)


def test_requests_meant_for_a_dead_replica_are_passed_on(cluster: Cluster) -> None:
    cluster.need(0, 1)
    _, key = cluster.replicas[1].create_key()
    victim = cluster.replicas[0]
    victim.signal(signal.SIGKILL)
    victim.wait(10)
    answers = [asyncio.run(post_all(cluster.url, key, [body()]))[0] for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 6
    # nginx tried the dead replica first, then another, and the client never knew
    dead = f"127.0.0.1:{victim.port}"
    retried = [addrs for status, addrs in cluster.lb.tried()[-6:]
               if status == 200 and len(addrs) > 1 and addrs[0] == dead]
    assert len(retried) == 1, cluster.lb.tried()[-6:]


def read_stream(url: str, key: str, out: list[bytes]) -> None:
    content = "tell me about lighthouses, " * 4  # about 15 chunks, 0.1 s apart
    with httpx.stream("POST", url, json=body(stream=True, content=content, max_tokens=200),
                      headers={"Authorization": f"Bearer {key}"}, timeout=30) as r:
        for chunk in r.iter_raw():
            out.append(chunk)


def test_sigterm_drains_streams_within_the_grace_period(cluster: Cluster) -> None:
    cluster.need(1, 2)
    _, key = cluster.replicas[2].create_key()
    cluster.up.default = Behavior(interval_s=0.1)
    outs: list[list[bytes]] = [[] for _ in range(6)]
    threads = [threading.Thread(target=read_stream, args=(cluster.url, key, o)) for o in outs]
    for t in threads:
        t.start()
    victim = cluster.replicas[1]
    # every stream under way (round robin: on each replica nginx counts as up)
    victim.wait_for(lambda: all(b"".join(o).count(b"data:") >= 2 for o in outs), 10,
                    "the streams")
    victim.signal(signal.SIGTERM)
    stopped = time.monotonic()
    # new requests meanwhile go to the other replicas
    during = asyncio.run(load(cluster.url, key, 1.0, 2, body()))
    code = victim.wait(GRACE_S + 5)
    took = time.monotonic() - stopped
    for t in threads:
        t.join(30)
    assert code == 0
    assert took < GRACE_S, f"the drain took {took:.1f} s, more than the {GRACE_S} s grace"
    assert [o.status for o in during] == [200] * len(during)
    assert during
    draining = [e for e in victim.log_events() if e.get("event") == "worker_stopping"]
    assert draining
    assert draining[-1]["in_flight"] >= 1, "the victim had no stream to drain"
    assert not [e for e in victim.log_events() if e.get("event") == "requests_cut_at_shutdown"]
    for o in outs:  # every stream finished normally: no error event, no cut
        text = b"".join(o).decode()
        assert text.rstrip().endswith("data: [DONE]"), text[-300:]
        assert '"finish_reason":"stop"' in text or '"finish_reason":"length"' in text
        assert "server_shutting_down" not in text
        assert '"error"' not in text
