"""Admin sign-in by OIDC: tokens of ``auth.admin.oidc`` issuers are admin credentials.

A dashboard signs its operators in at the company's identity provider and presents
the token it gets (``Authorization: Bearer <id or access token>``). The token is
verified like a caller's (:mod:`bastion.identity.jwt_verify`; refusals are 401
``invalid_admin_token``); the values of ``role_claim`` (a string or a list, such as
``groups``) that ``roles`` maps give the actor its grants (every mapped role's), and
``actor_claim`` names it in the audit log as ``oidc:<value>``. A valid token that
maps to no role is 403 ``insufficient_role``.
"""

from __future__ import annotations

from collections.abc import Mapping

from bastion.config.auth_settings import AdminOidc
from bastion.config.secrets import Resolver
from bastion.core.errors import InsufficientRole, InvalidAdminToken
from bastion.identity.claims import claim, claim_id
from bastion.identity.jwt_verify import TokenVerifier
from bastion.identity.roles import GRANTS, ROLES, Actor, Role


class AdminOidcVerifier:
    def __init__(self, settings: list[AdminOidc], resolvers: Mapping[str, Resolver]) -> None:
        self.verifier = TokenVerifier(settings, resolvers, InvalidAdminToken)

    async def start(self) -> None:
        await self.verifier.start()

    async def aclose(self) -> None:
        await self.verifier.aclose()

    async def actor(self, token: str) -> Actor:
        issuer, claims, _ = await self.verifier.verify(token)
        s = issuer.s
        assert isinstance(s, AdminOidc)
        who = claim_id(claim(claims, s.actor_claim))
        if who is None:
            raise InvalidAdminToken(f"The token's `{s.actor_claim}` claim is missing or is not "
                                    "a usable id.")
        value = claim(claims, s.role_claim)
        values = [value] if isinstance(value, str) else \
            [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        roles: set[Role] = {s.roles[v] for v in values if v in s.roles}
        if not roles:
            raise InsufficientRole("Your sign-in is valid, but it grants no admin role on "
                                   "this gateway.")
        grants = frozenset().union(*(GRANTS[r] for r in roles))
        top = next(r for r in ROLES if r in roles)
        return Actor("oidc:" + who, top, grants, "oidc")
