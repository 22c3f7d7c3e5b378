"""Fixtures of the traffic tests: fake upstreams, gateways, a clean Redis namespace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis


def traffic_config(upstreams: dict[str, str], *, targets: list[Any] | None = None,
                   traffic: dict[str, Any] | None = None, alias: dict[str, Any] | None = None,
                   providers: dict[str, dict[str, Any]] | None = None,
                   redis_url: str | None = None) -> dict[str, Any]:
    """Settings with an ``openai_compatible`` provider per ``name -> base_url`` and a
    ``chat`` alias over ``targets`` (default: ``<name>/gpt-4o-mini`` for each)."""
    provs: dict[str, dict[str, Any]] = {
        n: {"type": "openai_compatible", "base_url": url} for n, url in upstreams.items()}
    for n, extra in (providers or {}).items():
        provs[n] = {**provs[n], **extra}
    chat: dict[str, Any] = {"targets": targets or [f"{n}/gpt-4o-mini" for n in upstreams],
                            "timeout_ms": {"connect": 1000, "first_byte": 5000, "total": 10000}}
    chat.update(alias or {})
    cfg: dict[str, Any] = {"providers": provs, "models": {"chat": chat},
                           "traffic": traffic or {}}
    if redis_url:
        cfg["state"] = {"database": "memory://", "redis": redis_url}
    return cfg


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"test:traffic:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()
