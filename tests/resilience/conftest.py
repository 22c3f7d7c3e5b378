"""Fixtures for the resilience tests: settings for gateways in front of fake upstreams,
and captured logs (the factories live in tests/conftest.py)."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from bastion.observe.logging import configure_logging


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_settings(targets: dict[str, str], *, alias: dict[str, Any] | None = None,
                     resilience: dict[str, Any] | None = None,
                     providers: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Settings with one ``openai_compatible`` provider per ``name -> base_url`` and a
    ``chat`` alias whose targets are ``name/name-model`` in order."""
    provs: dict[str, dict[str, Any]] = {
        name: {"type": "openai_compatible", "base_url": url} for name, url in targets.items()}
    for name, extra in (providers or {}).items():
        provs[name] = {**provs.get(name, {}), **extra}
    chat = {"targets": [f"{n}/{n}-model" for n in targets],
            "timeout_ms": {"connect": 500, "first_byte": 2000, "total": 10000}}
    chat.update(alias or {})
    return {
        "providers": provs,
        "models": {"chat": chat},
        "resilience": resilience or {},
    }


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything the gateway logs (through the real redacting pipeline), as JSON lines."""
    buf = io.StringIO()
    configure_logging(level="info", stream=buf)
    yield buf
    structlog.reset_defaults()


@pytest.fixture
def settings_for() -> Callable[..., dict[str, Any]]:
    """The :func:`gateway_settings` builder."""
    return gateway_settings
