"""CORS per issuer: preflights for listed origins, tokens held to their own issuer's list."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bastion.testing import FakeIdentityProvider, GatewayServer, fake_settings

from .conftest import chat, http, jwt_config, refused

APP = "https://app.example.com"
ADMIN_APP = "https://admin.example.com"


@pytest.fixture
def idp2() -> Iterator[FakeIdentityProvider]:
    with FakeIdentityProvider("ES256") as provider:
        yield provider


@pytest.fixture
def gw(idp: FakeIdentityProvider, idp2: FakeIdentityProvider,
       gateway_factory: Callable[..., GatewayServer]) -> GatewayServer:
    cfg = jwt_config(idp, cors={"allow_origins": [APP], "max_age_s": 120})
    cfg["auth"]["jwt"].append({"issuer": idp2.issuer, "audience": "bastion",
                               "jwks_url": idp2.jwks_url,
                               "cors": {"allow_origins": [ADMIN_APP]}})
    return gateway_factory(cfg)


def preflight(gw: GatewayServer, origin: str) -> dict[str, str]:
    r = http().options(gw.openai_base_url + "/chat/completions", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-stainless-os"})
    return {"status": str(r.status_code), **{k.lower(): v for k, v in r.headers.items()}}


def test_preflight_for_listed_origins_only(gw: GatewayServer) -> None:
    ok = preflight(gw, APP)
    assert ok["status"] == "204"
    assert ok["access-control-allow-origin"] == APP
    assert ok["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"
    assert ok["access-control-max-age"] == "120"
    assert "access-control-allow-credentials" not in ok
    assert preflight(gw, ADMIN_APP)["access-control-max-age"] == "600"
    evil = preflight(gw, "https://evil.example")
    assert evil["status"] == "403"
    assert "access-control-allow-origin" not in evil


def test_answers_to_allowed_origins_are_readable(idp: FakeIdentityProvider,
                                                 gw: GatewayServer) -> None:
    r = chat(gw, idp.token(), headers={"origin": APP}, stream=True)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    assert "x-request-id" in r.headers["access-control-expose-headers"]
    # Refusals too, so the page can show why.
    bad = chat(gw, idp.token(ttl_s=-99), headers={"origin": APP})
    assert bad.status_code == 401
    assert bad.headers["access-control-allow-origin"] == APP
    # Server-side callers (no Origin) get no CORS headers.
    assert "access-control-allow-origin" not in chat(gw, idp.token()).headers


def test_a_token_is_held_to_its_own_issuers_origins(
        idp: FakeIdentityProvider, idp2: FakeIdentityProvider, gw: GatewayServer) -> None:
    assert chat(gw, idp2.token(), headers={"origin": ADMIN_APP}).status_code == 200
    msg = refused(chat(gw, idp2.token(), headers={"origin": APP}), 403, "origin_not_allowed")
    assert APP in msg
    refused(chat(gw, idp.token(), headers={"origin": "https://evil.example"}), 403,
            "origin_not_allowed")
    # The verified-token cache does not skip the origin check.
    token = idp.token()
    assert chat(gw, token, headers={"origin": APP}).status_code == 200
    refused(chat(gw, token, headers={"origin": ADMIN_APP}), 403, "origin_not_allowed")


def test_no_cors_configured_means_no_preflight(
        gateway_factory: Callable[..., GatewayServer]) -> None:
    plain = gateway_factory(fake_settings())
    assert preflight(plain, APP)["status"] == "405"
