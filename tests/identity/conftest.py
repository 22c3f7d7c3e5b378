"""Fixtures of the identity tests: a real issuer on loopback, gateways that trust it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bastion.testing import FakeIdentityProvider, GatewayServer, fake_settings

MSG = [{"role": "user", "content": "hello there"}]


@functools.cache
def http() -> httpx.Client:
    """One client per session: a new httpx client costs tens of ms."""
    return httpx.Client(timeout=10.0)


@pytest.fixture
def idp() -> Iterator[FakeIdentityProvider]:
    with FakeIdentityProvider() as provider:
        yield provider


def jwt_config(idp: FakeIdentityProvider, *, settings: dict[str, Any] | None = None,
               auth: dict[str, Any] | None = None, **issuer: Any) -> dict[str, Any]:
    """Fake-provider settings whose ``auth.jwt`` trusts ``idp`` (``issuer`` overrides)."""
    cfg = settings or fake_settings()
    entry = {"issuer": idp.issuer, "audience": idp.audience, "jwks_url": idp.jwks_url,
             "jwks_min_refresh_s": 0, **issuer}
    cfg["auth"] = {"jwt": [entry], **(auth or {})}
    return cfg


@pytest.fixture
def trusting(idp: FakeIdentityProvider,
             gateway_factory: Callable[[dict[str, Any]], GatewayServer]
             ) -> Callable[..., GatewayServer]:
    """``trusting(**issuer_overrides)``: a started gateway that trusts ``idp``."""
    def make(**kw: Any) -> GatewayServer:
        return gateway_factory(jwt_config(idp, **kw))

    return make


def chat(gw: GatewayServer, token: str | None, model: str = "chat",
         headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return http().post(gw.openai_base_url + "/chat/completions", headers=h,
                       json={"model": model, "messages": MSG, **body})


def refused(r: httpx.Response, status: int = 401, code: str = "invalid_api_key") -> str:
    """The refusal's message, after checking its status and code."""
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    return str(err["message"])
