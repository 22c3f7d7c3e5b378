"""Fixtures of the traffic tests: settings for gateways in front of fake upstreams (a clean
Redis namespace per test is `redis_prefix`, in tests/conftest.py)."""

from __future__ import annotations

from typing import Any


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
