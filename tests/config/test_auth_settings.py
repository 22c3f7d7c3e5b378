"""The `auth:` section refuses configurations that would weaken token checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bastion.config.settings import Settings
from bastion.testing import GatewayServer, fake_settings

BASE = {"issuer": "https://login.example.com/", "audience": "bastion",
        "jwks_url": "https://login.example.com/.well-known/jwks.json"}


def auth(**entry: Any) -> dict[str, Any]:
    return {"auth": {"jwt": [{**BASE, **entry}]}}


def test_the_issue_shape_is_accepted_as_written() -> None:
    s = Settings.model_validate({**fake_settings(), **auth(
        user_claim="sub", team_claim="org_id", models=["chat"],
        limits={"rpm": 20, "tpm": 40000, "budget_usd": 1.0})})
    j = s.auth.jwt[0]
    assert (j.issuer, j.audience, j.user_claim, j.team_claim, j.models) == (
        "https://login.example.com/", "bastion", "sub", "org_id", ["chat"])
    assert j.limits.rpm == 20
    assert j.algorithms == ["RS256", "ES256", "EdDSA"]


@pytest.mark.parametrize(("entry", "says"), [
    ({"algorithms": ["none"]}, "algorithms"),
    ({"algorithms": ["HS256"]}, "HS256 needs `shared_secret`"),
    ({"shared_secret": "env:S"}, "only used with HS256"),
    ({"shared_secret": "hunter2hunter2", "algorithms": ["HS256"]}, "never written inline"),
    ({"public_key": "env:K"}, "not both"),
    ({"jwks_url": None}, "needs `jwks_url` or `public_key`"),
    ({"jwks_url": "ftp://x/jwks"}, "http(s) URL"),
    ({"tiers": {"pro": {}}}, "`tiers` needs `tier_claim`"),
    ({"surprise": 1}, "Extra inputs are not permitted"),
    ({"clock_skew_s": 3600}, "clock_skew_s"),
])
def test_refusals(entry: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Settings.model_validate(auth(**entry))


def test_an_issuer_listed_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        Settings.model_validate({"auth": {"jwt": [BASE, BASE]}})


def test_admin_sign_in_takes_public_keys_only() -> None:
    oidc = {**BASE, "roles": {"ops": "operator"}}
    Settings.model_validate({"auth": {"admin": {"oidc": [oidc]}}})
    with pytest.raises(ValidationError, match="public-key algorithms only"):
        Settings.model_validate({"auth": {"admin": {"oidc": [{**oidc,
                                                              "algorithms": ["HS256"]}]}}})
    with pytest.raises(ValidationError, match="roles"):
        Settings.model_validate({"auth": {"admin": {"oidc": [{**BASE, "roles": {
            "ops": "superuser"}}]}}})


def test_unknown_aliases_stop_the_gateway_from_starting() -> None:
    with pytest.raises(ValueError, match="unknown model aliases 'large'"):
        GatewayServer({**fake_settings(), **auth(models=["chat", "large"])})
