"""Shared fixtures: real gateways and real fake upstreams on loopback, real services."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from bastion.observe import logging as blog
from bastion.testing import FakeUpstream, GatewayServer, fake_settings

REDIS_URL = os.environ.get("BASTION_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("BASTION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip (or, under BASTION_REQUIRE_SERVICES=1, fail) when a service is not running."""
    if _reachable(host, port):
        return
    msg = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{msg}, and BASTION_REQUIRE_SERVICES=1 requires it")
    pytest.skip(f"{msg}; start it to run this test")


@pytest.fixture
def redis_url() -> str:
    need_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def postgres_url() -> str:
    need_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def gateway() -> Iterator[GatewayServer]:
    with GatewayServer(fake_settings()) as gw:
        yield gw


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def upstream_factory() -> Iterator[Callable[[], FakeUpstream]]:
    """``make()`` starts a FakeUpstream, stopped after the test."""
    started: list[FakeUpstream] = []

    def make() -> FakeUpstream:
        up = FakeUpstream().start()
        started.append(up)
        return up

    yield make
    for up in started:
        up.stop()


@pytest.fixture
def gateway_factory() -> Iterator[Callable[[dict[str, Any]], GatewayServer]]:
    """``make(settings)`` starts a GatewayServer, stopped after the test."""
    started: list[GatewayServer] = []

    def make(settings: dict[str, Any]) -> GatewayServer:
        gw = GatewayServer(settings).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The JSON log lines written while the test runs (logging reset afterwards)."""
    old_config, old_sink = structlog.get_config(), list(blog._sink)
    buf = io.StringIO()
    blog.configure_logging(level="info", stream=buf)
    yield buf
    structlog.configure(**old_config)
    blog._sink[:] = old_sink
