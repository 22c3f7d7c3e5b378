"""Claims → identity: user and team claims, aliases from config and token, tiers, limits."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bastion.config.auth_settings import JwtIssuer
from bastion.identity.claims import ClaimMapper, claim
from bastion.testing import FakeIdentityProvider, GatewayServer, fake_settings

from .conftest import chat, jwt_config, refused

TWO_ALIASES = fake_settings(chat={"targets": ["fake/small"]}, large={"targets": ["fake/big"]})


def test_user_and_team_claims_reach_the_usage_log(
        idp: FakeIdentityProvider, trusting: Callable[..., GatewayServer]) -> None:
    gw = trusting(user_claim="email", team_claim="org.id")
    assert chat(gw, idp.token("sub-1", email="ann@example.com", org={"id": "acme"})
                ).status_code == 200
    gw.run(gw.gateway.recorder.flush())
    [row] = gw.run(gw.gateway.db.usage_for_user("ann@example.com"))
    assert row.team == "acme"
    assert "`email` claim is missing" in refused(chat(gw, idp.token("sub-2")))


def test_models_limit_the_aliases(idp: FakeIdentityProvider,
                                  gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(jwt_config(idp, settings=TWO_ALIASES, models=["chat"]))
    token = idp.token()
    assert chat(gw, token).status_code == 200
    msg = refused(chat(gw, token, model="large"), 403, "model_not_allowed")
    assert msg == "This user may not use the model 'large'."


def test_models_claim_narrows_what_the_token_may_call(
        idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(jwt_config(idp, settings=TWO_ALIASES, models_claim="scope"))
    both = idp.token(scope="openid chat large")
    assert chat(gw, both, model="large").status_code == 200
    refused(chat(gw, idp.token(scope="openid chat"), model="large"), 403, "model_not_allowed")
    refused(chat(gw, idp.token()), 403, "model_not_allowed")  # no claim: nothing granted


def test_a_tier_claim_picks_limits_and_aliases(
        idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(jwt_config(
        idp, settings=TWO_ALIASES, models=["chat"], limits={"rpm": 1}, tier_claim="roles",
        tiers={"pro": {"limits": {"rpm": 3}, "models": ["chat", "large"]}}))
    free, pro = idp.token("free-user"), idp.token("pro-user", roles=["staff", "pro"])
    assert chat(gw, free).status_code == 200
    refused(chat(gw, free), 429, "rate_limit_exceeded")
    refused(chat(gw, free, model="large"), 403, "model_not_allowed")
    assert [chat(gw, pro, model="large").status_code for _ in range(3)] == [200] * 3
    msg = refused(chat(gw, pro), 429, "rate_limit_exceeded")
    assert msg.startswith("This user is over its limit of 3 requests")


def test_per_user_budget(idp: FakeIdentityProvider,
                         gateway_factory: Callable[..., GatewayServer]) -> None:
    priced = fake_settings(chat={"targets": [{"target": "fake/m", "price": {
        "input_per_mtok": 1000.0, "output_per_mtok": 1000.0}}]})
    gw = gateway_factory(jwt_config(idp, settings=priced, limits={"budget_usd": 0.05}))
    a, b = idp.token("a"), idp.token("b")
    codes = [chat(gw, a, max_tokens=5).status_code for _ in range(6)]
    assert codes[0] == 200
    assert codes[-1] == 429
    assert chat(gw, b, max_tokens=5).status_code == 200  # each user has their own budget


def test_unknown_aliases_in_the_mapping_are_refused_at_start() -> None:
    s = JwtIssuer(issuer="https://i/", audience="a", jwks_url="https://i/jwks",
                  models=["chat", "nope"])
    with pytest.raises(ValueError, match="unknown model aliases 'nope'"):
        ClaimMapper(s, ["chat"])


def test_claim_lookup_whole_name_then_path() -> None:
    payload = {"https://example.com/plan": "pro", "realm_access": {"roles": ["a"]}}
    assert claim(payload, "https://example.com/plan") == "pro"
    assert claim(payload, "realm_access.roles") == ["a"]
    assert claim(payload, "realm_access.missing") is None


def test_the_model_list_shows_what_the_user_may_call(
        idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]) -> None:
    from .conftest import http

    gw = gateway_factory(jwt_config(idp, settings=TWO_ALIASES, models=["large"]))
    r = http().get(gw.openai_base_url + "/models",
                   headers={"Authorization": f"Bearer {idp.token()}"})
    assert [m["id"] for m in r.json()["data"]] == ["large"]


def test_token_and_budget_limits_per_user_and_per_tier(
        idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]) -> None:
    priced = fake_settings(chat={"targets": [{"target": "fake/m", "price": {
        "input_per_mtok": 1000.0, "output_per_mtok": 1000.0}}]})
    gw = gateway_factory(jwt_config(
        idp, settings=priced, limits={"tpm": 50}, tier_claim="plan",
        tiers={"pro": {"limits": {"tpm": 100_000, "budget_usd": 0.02}}}))
    long = [{"role": "user", "content": "word " * 100}]  # about 100 tokens
    msg = refused(chat(gw, idp.token("free"), messages=long, max_tokens=5), 429,
                  "rate_limit_exceeded")
    assert "tokens" in msg
    pro = idp.token("pro", plan="pro")
    # The tier's tpm lets it through; its $0.02 budget cannot pay for ~$0.105.
    refused(chat(gw, pro, messages=long, max_tokens=5), 429, "budget_exceeded")
    assert chat(gw, pro, max_tokens=5).status_code == 200
