"""Verified claims → :class:`~bastion.core.context.Identity`.

``user_claim`` (``sub`` by default) names the user; ``team_claim`` the team;
``models`` (config) and ``models_claim`` (token) the aliases the user may call —
both apply when both are set; a tier named by ``tier_claim`` brings its own
limits and, if it lists them, its own aliases. A claim name is looked up as a
whole first (``https://example.com/plan`` is one claim), then as a dotted path
(``realm_access.roles``). A claim holding a list picks the first tier, in config
order, that it names; ``models_claim`` may be a list or a space-separated string.

The identity's ``key_id`` is ``jwt_`` + a hash of issuer and user: stable across
replicas and restarts, so per-user limits and lifetime budgets are counted like a
virtual key's (``k:<key_id>`` in the traffic ledger, seeded from the usage log).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from bastion.config.auth_settings import JwtIssuer, Tier, UserLimits
from bastion.core.context import Identity
from bastion.core.errors import AuthenticationFailed

MAX_CLAIM_ID = 200  # characters in a user or team id taken from a token


def claim(payload: Mapping[str, Any], name: str) -> Any:
    """The value of claim ``name``: the whole name first, then a dotted path."""
    if name in payload:
        return payload[name]
    node: Any = payload
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def claim_id(value: Any) -> str | None:
    """A claim value usable as an id: a string or integer of sane length, else None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if 0 < len(text) <= MAX_CLAIM_ID and text.isprintable() else None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def jwt_key_id(issuer: str, user: str) -> str:
    return "jwt_" + hashlib.sha256(f"{issuer}\0{user}".encode()).hexdigest()[:24]


class ClaimMapper:
    """One issuer's mapping from claims to an identity (configured once)."""

    def __init__(self, s: JwtIssuer, aliases: Iterable[str]) -> None:
        known = set(aliases)
        for where, names in [("models", s.models)] + [
                (f"tiers.{t}.models", tier.models) for t, tier in s.tiers.items()]:
            unknown = sorted(set(names or ()) - known)
            if unknown:
                raise ValueError(f"auth.jwt[{s.issuer}].{where}: unknown model aliases "
                                 f"{', '.join(map(repr, unknown))}")
        self.s = s
        self.known = frozenset(known)
        self.label = "jwt:" + s.issuer

    def _tier(self, payload: Mapping[str, Any]) -> Tier | None:
        if self.s.tier_claim is None:
            return None
        named = set(_names(claim(payload, self.s.tier_claim)))
        return next((t for name, t in self.s.tiers.items() if name in named), None)

    def _models(self, payload: Mapping[str, Any], tier: Tier | None) -> tuple[str, ...] | None:
        base = tier.models if tier is not None and tier.models is not None else self.s.models
        allowed: set[str] | None = set(base) if base is not None else None
        if self.s.models_claim is not None:
            granted = set(_names(claim(payload, self.s.models_claim))) & self.known
            allowed = granted if allowed is None else allowed & granted
        return tuple(sorted(allowed)) if allowed is not None else None

    def identity(self, payload: Mapping[str, Any]) -> Identity:
        user = claim_id(claim(payload, self.s.user_claim))
        if user is None:
            raise AuthenticationFailed(
                f"The token's `{self.s.user_claim}` claim is missing or is not a usable "
                f"user id (1 to {MAX_CLAIM_ID} printable characters).")
        team = claim_id(claim(payload, self.s.team_claim)) if self.s.team_claim else None
        tier = self._tier(payload)
        lim: UserLimits = tier.limits if tier is not None else self.s.limits
        return Identity(key_id=jwt_key_id(self.s.issuer, user), name=self.label, user=user,
                        team=team, models=self._models(payload, tier), rpm=lim.rpm,
                        tpm=lim.tpm, budget_usd=lim.budget_usd, via="jwt")
