"""Per-user RPM and budget of JWT callers hold across two replicas sharing Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bastion.testing import FakeIdentityProvider, GatewayServer, fake_settings

from .conftest import chat, jwt_config, refused

pytestmark = pytest.mark.services


@pytest.fixture
def replicas(request: pytest.FixtureRequest, idp: FakeIdentityProvider, redis_url: str,
             tmp_path: Path, gateway_factory: Callable[..., GatewayServer]
             ) -> Iterator[list[GatewayServer]]:
    """Two gateways sharing Redis and a database; per-user limits from the test's param."""
    prefix = f"test:identity:{uuid.uuid4().hex}:"
    priced = fake_settings(chat={"targets": [{"target": "fake/m", "price": {
        "input_per_mtok": 1000.0, "output_per_mtok": 1000.0}}]})
    cfg: dict[str, Any] = jwt_config(idp, settings=priced, limits=request.param)
    cfg["state"] = {"database": f"sqlite:///{tmp_path / 'shared.db'}", "redis": redis_url,
                    "replicas": 2}
    cfg["traffic"] = {"redis_prefix": prefix}
    yield [gateway_factory(cfg), gateway_factory(cfg)]
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.parametrize("replicas", [{"rpm": 4}], indirect=True)
def test_per_user_rpm_across_replicas(idp: FakeIdentityProvider,
                                      replicas: list[GatewayServer]) -> None:
    a, b = replicas
    token = idp.token("rpm-user")
    assert [chat(gw, token, max_tokens=5).status_code for gw in (a, b, a, b)] == [200] * 4
    msg = refused(chat(a, token, max_tokens=5), 429, "rate_limit_exceeded")
    assert "This user is over its limit of 4 requests" in msg
    refused(chat(b, token, max_tokens=5), 429, "rate_limit_exceeded")
    # Another user of the same issuer is counted apart.
    assert chat(b, idp.token("other-user"), max_tokens=5).status_code == 200


@pytest.mark.parametrize("replicas", [{"budget_usd": 0.5}], indirect=True)
def test_per_user_budget_across_replicas(idp: FakeIdentityProvider,
                                         replicas: list[GatewayServer]) -> None:
    a, b = replicas
    token = idp.token("budget-user")
    # About 100 tokens each way at $0.001 a token: each call costs about $0.2, so the
    # $0.5 budget pays for two or three calls in all (one replica alone would allow that).
    long = [{"role": "user", "content": "word " * 100}]
    codes = [chat(gw, token, max_tokens=5, messages=long).status_code
             for gw in (a, b, a, b, a, b)]
    assert codes[:2] == [200, 200]
    assert codes.count(200) <= 3
    assert codes[-2:] == [429, 429]
    msg = refused(chat(a, token, max_tokens=5, messages=long), 429, "budget_exceeded")
    assert msg.startswith("This user has")
    refused(chat(b, token, max_tokens=5, messages=long), 429, "budget_exceeded")
    assert chat(b, idp.token("other-user"), max_tokens=5).status_code == 200
