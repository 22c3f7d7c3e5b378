"""Shared fixtures: real gateways and real fake upstreams on loopback, real services."""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import structlog

from bastion.observe import logging as blog
from bastion.testing import FakeUpstream, GatewayServer, fake_settings

from .private_services import PrivatePostgres, PrivateRedis

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
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def postgres_url() -> str:
    need_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """Whatever a test does to logging (the demo and ``captured`` configure it, on
    streams that close with the test), the next test starts from the same state."""
    config, sink = structlog.get_config(), list(blog._sink)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    structlog.configure(**config)
    blog._sink[:] = sink
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)


def _need_binaries(name: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} binaries are missing, and BASTION_REQUIRE_SERVICES=1 requires them")
    pytest.skip(f"{name} binaries are not installed; install them to run this test")


@pytest.fixture(scope="session")
def _private_pg_server() -> Iterator[PrivatePostgres]:
    _need_binaries("PostgreSQL", PrivatePostgres.available())
    pg = PrivatePostgres()
    yield pg.start()
    pg.destroy()


@pytest.fixture
def private_postgres(_private_pg_server: PrivatePostgres) -> PrivatePostgres:
    """A PostgreSQL of the test session alone, running (a test may stop and restart it;
    the next test gets it running again). Use a fresh ``?schema=`` per test."""
    return _private_pg_server.start()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis of this test alone, running, on a free port; gone after the test."""
    _need_binaries("Redis", PrivateRedis.available())
    r = PrivateRedis().start()
    yield r
    r.stop()


@pytest.fixture
def dead_redis() -> str:
    """A Redis URL where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A Redis URL whose port accepts connections and never answers (a hung Redis)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    s.close()


@pytest.fixture
def gateway() -> Iterator[GatewayServer]:
    # tool results reach the provider as sent (spotlighting, on by default, is tested in
    # tests/steps/test_injection.py)
    with GatewayServer({**fake_settings(), "guards": {"injection": {"spotlight": "off"}}}) as gw:
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
