"""Usage survives database outages: what the providers served during an outage is in the
usage log once the database is back, in this process or the next one."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.private_services import PrivatePostgres

from bastion.testing import GatewayServer


def settings(pg: PrivatePostgres, schema: str, **usage: Any) -> dict[str, Any]:
    return {
        "providers": {"fake": {"type": "fake"}},
        "models": {"chat": {"targets": ["fake/gpt-4o-mini"]}},
        "state": {"database": f"{pg.url}?schema={schema}", "key_cache_ttl_s": 600},
        "usage": {"retry_max_s": 0.5, **usage},
    }


def ask(gw: GatewayServer, key: str, n: int) -> tuple[int, int]:
    """``n`` requests; the prompt and completion tokens the provider reported."""
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
    pt = ct = 0
    for i in range(n):
        r = c.chat.completions.create(model="chat",
                                      messages=[{"role": "user", "content": f"hello {i}"}])
        assert r.usage is not None
        pt += r.usage.prompt_tokens
        ct += r.usage.completion_tokens
    return pt, ct


def usage(gw: GatewayServer, key_id: str) -> dict[str, Any] | None:
    r = httpx.get(f"{gw.base_url}/admin/keys/{key_id}/usage",
                  headers={"Authorization": f"Bearer {gw.master_key}"}, timeout=10)
    return r.json() if r.status_code == 200 else None


def wait_usage(gw: GatewayServer, key_id: str, requests: int,
               within_s: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    got = None
    while time.monotonic() < deadline:
        got = usage(gw, key_id)
        if got is not None and got["requests"] >= requests:
            return got
        time.sleep(0.1)
    raise AssertionError(f"usage never reached {requests} requests: {got}")


def new_key(gw: GatewayServer) -> tuple[str, str]:
    r = httpx.post(f"{gw.base_url}/admin/keys", json={"name": "outage"},
                   headers={"Authorization": f"Bearer {gw.master_key}"})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


def schema() -> str:
    return "usage_" + uuid.uuid4().hex[:10]


def test_usage_served_during_an_outage_is_written_when_the_database_returns(
        private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    with GatewayServer(settings(private_postgres, schema(), spill_dir=str(spill))) as gw:
        key_id, key = new_key(gw)
        before = ask(gw, key, 5)
        private_postgres.stop()
        during = ask(gw, key, 10)  # served from cached key records
        deadline = time.monotonic() + 5
        while not list(spill.glob("usage-*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(spill.glob("usage-*.jsonl")), "nothing was spilled to local disk"
        private_postgres.start()
        got = wait_usage(gw, key_id, 15)
        assert got["requests"] == got["served"] == 15
        assert (got["prompt_tokens"], got["completion_tokens"]) == (
            before[0] + during[0], before[1] + during[1])
        assert not any(p.stat().st_size for p in spill.glob("usage-*.jsonl"))


def test_a_replica_stopped_during_the_outage_leaves_its_usage_for_the_next(
        private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    name = schema()
    with GatewayServer(settings(private_postgres, name, spill_dir=str(spill))) as gw:
        key_id, key = new_key(gw)
        ask(gw, key, 2)
        gw.run(gw.gateway.recorder.flush())
        private_postgres.stop()
        ask(gw, key, 7)
    assert sum(p.stat().st_size for p in spill.glob("usage-*.jsonl")) > 0
    private_postgres.start()
    with GatewayServer(settings(private_postgres, name, spill_dir=str(spill))) as again:
        got = wait_usage(again, key_id, 9)
        assert got["requests"] == 9
    assert not list(spill.glob("usage-*.jsonl"))


def test_without_a_spill_file_the_queue_keeps_at_most_queue_max_rows(
        private_postgres: PrivatePostgres) -> None:
    with GatewayServer(settings(private_postgres, schema(), spill_dir=None,
                                queue_max_rows=4)) as gw:
        key_id, key = new_key(gw)
        ask(gw, key, 1)
        gw.run(gw.gateway.recorder.flush())
        private_postgres.stop()
        ask(gw, key, 6)
        metrics = httpx.get(gw.base_url + "/metrics").text
        assert "bastion_usage_rows_dropped_total 2.0" in metrics
        private_postgres.start()
        assert wait_usage(gw, key_id, 5)["requests"] == 5  # 1 + the 4 the queue held


def test_spill_files_are_bounded(private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    with GatewayServer(settings(private_postgres, schema(), spill_dir=str(spill),
                                spill_max_mb=0.001)) as gw:  # about 1 kB: three rows
        key_id, key = new_key(gw)
        ask(gw, key, 1)
        gw.run(gw.gateway.recorder.flush())
        private_postgres.stop()
        ask(gw, key, 8)
        deadline = time.monotonic() + 5
        while "bastion_usage_rows_dropped_total 0.0" in httpx.get(gw.base_url + "/metrics").text:
            assert time.monotonic() < deadline, "no row was dropped"
            time.sleep(0.05)
        assert 0 < sum(p.stat().st_size for p in spill.glob("usage-*.jsonl")) <= 1048
        private_postgres.start()
        assert 1 < wait_usage(gw, key_id, 2)["requests"] < 9


@pytest.mark.parametrize("retry_max_s", [0.3])
def test_retry_max_s_bounds_the_wait_after_recovery(
        private_postgres: PrivatePostgres, tmp_path: Path, retry_max_s: float) -> None:
    with GatewayServer(settings(private_postgres, schema(), spill_dir=str(tmp_path),
                                retry_max_s=retry_max_s)) as gw:
        key_id, key = new_key(gw)
        ask(gw, key, 1)  # the key's record is cached now
        private_postgres.stop()
        ask(gw, key, 2)
        time.sleep(3)  # long enough for an unbounded backoff to wait seconds more
        private_postgres.start()
        back = time.monotonic()
        writer = gw.gateway.recorder.writer
        assert writer is not None
        while writer.failing and time.monotonic() - back < 5:
            time.sleep(0.02)
        assert time.monotonic() - back < retry_max_s + 1.0
        assert wait_usage(gw, key_id, 3)["requests"] == 3
