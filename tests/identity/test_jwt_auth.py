"""Caller JWTs end to end: a real issuer on loopback (keys made here), a real gateway.

Every refusal the issue lists is a 401 ``invalid_api_key`` with a sentence that says
which check failed; rotation works without a restart; a JWKS endpoint that is down or
hangs never stalls a request whose key is cached, and bounds the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
import openai
import pytest

from bastion.identity.claims import jwt_key_id
from bastion.testing import FakeIdentityProvider, GatewayServer

from .conftest import chat, http, jwt_config, refused


def test_a_valid_token_calls_with_sub_as_the_user(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting()
    token = idp.token("alice@example")
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=token, max_retries=0,
                           http_client=http())
    r = client.chat.completions.create(model="chat",
                                       messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content
    gw.run(gw.gateway.recorder.flush())
    rows = gw.run(gw.gateway.db.usage_for_user("alice@example"))
    assert [row.key_id for row in rows] == [jwt_key_id(idp.issuer, "alice@example")]
    # The same token again is served from the verified-token cache.
    checks = gw.gateway.callers.jwts.signature_checks  # type: ignore[union-attr]
    assert chat(gw, token).status_code == 200
    assert gw.gateway.callers.jwts.signature_checks == checks  # type: ignore[union-attr]


def test_the_anthropic_dialect_takes_the_token_as_x_api_key(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting()
    r = http().post(gw.base_url + "/v1/messages", headers={"x-api-key": idp.token()},
                    json={"model": "chat", "max_tokens": 20,
                          "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    bad = http().post(gw.base_url + "/v1/messages", headers={"x-api-key": idp.token(ttl_s=-99)},
                      json={"model": "chat", "max_tokens": 20,
                            "messages": [{"role": "user", "content": "hi"}]})
    assert bad.status_code == 401
    assert bad.json()["error"]["type"] == "authentication_error"
    assert "expired" in bad.json()["error"]["message"]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_every_bad_token_is_refused_with_a_clear_401(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting(clock_skew_s=5)
    now = int(time.time())
    header = {"alg": "none", "typ": "JWT", "kid": idp.signing.kid}
    unsigned = f"{_b64(header)}.{_b64(idp.claims())}."
    # HS256 signed with the issuer's *public* key as the HMAC secret: the classic confusion.
    signing_input = f"{_b64({'alg': 'HS256', 'kid': idp.signing.kid})}.{_b64(idp.claims())}"
    mac = hmac.new(idp.signing.public_pem().encode(), signing_input.encode(), hashlib.sha256)
    confused = f"{signing_input}.{base64.urlsafe_b64encode(mac.digest()).rstrip(b'=').decode()}"
    good = idp.token()
    head, body, sig = good.split(".")
    tampered_claims = f"{head}.{_b64(idp.claims('mallory'))}.{sig}"
    tampered_sig = f"{head}.{body}.{sig[:-6]}{'AAAAAA' if sig[-6:] != 'AAAAAA' else 'BBBBBB'}"
    stranger = idp.add_key(published=False)
    cases = {
        "expired": (idp.token(ttl_s=-60), "expired"),
        "not yet valid": (idp.token(nbf=now + 600), "not valid yet"),
        "issued in the future": (idp.token(iat=now + 600), "not valid yet"),
        "wrong issuer": (idp.token(iss="https://evil.example/"), "not one this gateway trusts"),
        "wrong audience": (idp.token(aud="someone-else"), "another audience"),
        "no audience": (idp.token(aud=None), "`aud`"),
        "no expiry": (idp.token(exp=None), "`exp`"),
        "alg none": (unsigned, "alg: none"),
        "HS256 with the public key": (confused, "does not accept 'HS256'"),
        "unknown kid": (idp.token(key=stranger), "does not publish"),
        "tampered claims": (tampered_claims, "signature does not verify"),
        "tampered signature": (tampered_sig, "signature does not verify"),
        "oversized": (idp.token(padding="x" * 4800), "longer than the 6000 bytes"),
        "not a JWT": ("eyJhbGciOi.eyJzdWIi.c2ln", "well-formed"),
        "no user claim": (idp.token(sub=None), "`sub` claim is missing"),
    }
    for name, (token, says) in cases.items():
        message = refused(chat(gw, token))
        assert says in message, (name, message)
        assert token not in message
    assert chat(gw, good).status_code == 200


def test_clock_skew_is_the_allowed_margin(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    just_expired = idp.token(ttl_s=-10)
    assert chat(trusting(clock_skew_s=30), just_expired).status_code == 200
    assert "expired" in refused(chat(trusting(clock_skew_s=0), just_expired))


def test_required_claims_are_enforced(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting(required_claims=["exp", "email"])
    assert "`email`" in refused(chat(gw, idp.token()))
    assert chat(gw, idp.token(email="a@example.com")).status_code == 200


def test_the_algorithm_allow_list(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    ec = idp.add_key("ES256")
    ed = idp.add_key("EdDSA")
    only_rsa = trusting(algorithms=["RS256"])
    assert "does not accept 'ES256'" in refused(chat(only_rsa, idp.token(key=ec)))
    both = trusting(algorithms=["RS256", "ES256", "EdDSA"])
    assert chat(both, idp.token(key=ec)).status_code == 200
    assert chat(both, idp.token(key=ed)).status_code == 200
    # A key published for ES256 never verifies an RS256 token that names it.
    forged = jwt.encode(idp.claims(), idp.signing.private, algorithm="RS256",
                        headers={"kid": ec.kid})
    refused(chat(both, forged))


def test_hs256_only_with_its_shared_secret(
        idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]) -> None:
    secret = "s" * 40
    cfg = {"providers": {"fake": {"type": "fake"}},
           "models": {"chat": {"targets": ["fake/m"]}},
           "auth": {"jwt": [{"issuer": "https://hs.example/", "audience": "bastion",
                             "shared_secret": "env:JWT_SECRET", "algorithms": ["HS256"]}]}}
    gw = GatewayServer(cfg, env={"JWT_SECRET": secret}).start()
    try:
        claims = {**idp.claims(), "iss": "https://hs.example/"}
        assert chat(gw, jwt.encode(claims, secret, algorithm="HS256")).status_code == 200
        wrong = jwt.encode(claims, "t" * 40, algorithm="HS256")
        assert "signature does not verify" in refused(chat(gw, wrong))
        rsa = jwt.encode(claims, idp.signing.private, algorithm="RS256")
        assert "does not accept 'RS256'" in refused(chat(gw, rsa))
    finally:
        gw.stop()


def test_a_static_public_key(idp: FakeIdentityProvider, tmp_path: object,
                             gateway_factory: Callable[..., GatewayServer]) -> None:
    from pathlib import Path

    pem = Path(str(tmp_path)) / "idp.pem"
    pem.write_text(idp.signing.public_pem())
    cfg = {"providers": {"fake": {"type": "fake"}},
           "models": {"chat": {"targets": ["fake/m"]}},
           "auth": {"jwt": [{"issuer": idp.issuer, "audience": "bastion",
                             "public_key": f"file:{pem}"}]}}
    gw = gateway_factory(cfg)
    assert chat(gw, idp.token()).status_code == 200
    other = idp.add_key()
    assert "signature does not verify" in refused(chat(gw, idp.token(key=other)))
    assert idp.jwks_requests == 0  # a static key never touches the network


def test_rotation_at_the_issuer_needs_no_restart(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting()
    old = idp.token()
    assert chat(gw, old).status_code == 200
    idp.rotate(drop_old=True)
    assert chat(gw, idp.token()).status_code == 200  # unknown kid → one fetch → known
    # The old key left the set: tokens it signed (even cached ones) are refused.
    assert "does not publish" in refused(chat(gw, old))


def test_unknown_kids_fetch_at_most_once_per_min_refresh(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting(jwks_min_refresh_s=3600)
    fetched = idp.jwks_requests
    for _ in range(15):  # under the failed-auth throttle's 20 per address and minute
        refused(chat(gw, idp.token(key=idp.add_key("ES256", published=False))))
    assert idp.jwks_requests == fetched  # the start-up fetch was < 1 h ago: none at all
    idp.rotate()
    refused(chat(gw, idp.token()))  # a real new key waits for the next allowed fetch
    assert idp.jwks_requests == fetched


def test_background_refresh_learns_new_keys(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting(jwks_min_refresh_s=3600, jwks_refresh_s=1)
    idp.rotate()
    deadline = time.monotonic() + 5
    while chat(gw, idp.token()).status_code != 200:
        assert time.monotonic() < deadline, "the background refresh never picked up the key"
        time.sleep(0.2)


@pytest.mark.parametrize("mode", ["hang", "down", "garbage"])
def test_a_jwks_endpoint_that_fails_does_not_stall_requests(
        mode: str, idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting(jwks_timeout_ms=1000, jwks_refresh_s=1)
    cached = idp.token()
    assert chat(gw, cached).status_code == 200
    idp.mode = mode  # type: ignore[assignment]
    time.sleep(1.2)  # a background refresh fails meanwhile; the cached keys stay
    fresh = idp.token("bob")  # a token never seen, signed by the cached key
    t0 = time.monotonic()
    assert chat(gw, fresh).status_code == 200
    assert time.monotonic() - t0 < 0.8  # no wait on the network: under jwks_timeout_ms
    unknown = idp.token(key=idp.rotate())
    t0 = time.monotonic()
    message = refused(chat(gw, unknown))
    assert time.monotonic() - t0 < 3.0  # bounded by jwks_timeout_ms, not by the hang
    assert "could not be fetched" in message


def test_max_token_bytes(idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer],
                         gateway_factory: Callable[..., GatewayServer]) -> None:
    token = idp.token(padding="x" * 1500)
    assert chat(trusting(), token).status_code == 200
    small = gateway_factory(jwt_config(idp, auth={"max_token_bytes": 1000}))
    assert "longer than the 1000 bytes" in refused(chat(small, token))


def test_the_verified_token_cache_can_be_turned_off(
        idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(jwt_config(idp, auth={"token_cache_ttl_s": 0}))
    token = idp.token()
    for _ in range(3):
        assert chat(gw, token).status_code == 200
    assert gw.gateway.callers.jwts.signature_checks == 3  # type: ignore[union-attr]
