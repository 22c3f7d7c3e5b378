"""Who is calling: a virtual key or a caller JWT, and the end user a service names.

The credential comes from ``Authorization: Bearer …`` (or ``x-api-key``, as the
Anthropic SDKs send it). A credential longer than ``auth.max_token_bytes`` is
refused unread; one shaped like a JWT goes to the JWT verifier when issuers are
configured, anything else to the virtual keys.

A virtual key created with ``act_for_users`` may name the end user per request:
the ``x-bastion-user`` header, else the body's ``user`` field (OpenAI) or
``metadata.user_id`` (Anthropic). The named user then gets that user's limits,
budget and usage rows. Any other credential that sends the header is refused
(403 ``user_not_allowed``); its body ``user`` field is passed on to the
provider as before but changes nothing here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from bastion.core.context import Identity
from bastion.core.errors import AuthenticationFailed, InvalidRequest, UserNotAllowed
from bastion.identity.claims import MAX_CLAIM_ID
from bastion.identity.jwt_auth import JwtAuthenticator
from bastion.identity.jwt_verify import looks_like_jwt
from bastion.keys import KeyService
from bastion.steps.authenticate import presented_key

USER_HEADER = "x-bastion-user"


class Callers:
    """A request's headers → :class:`Identity` (see the module docstring)."""

    def __init__(self, keys: KeyService, jwts: JwtAuthenticator | None,
                 max_token_bytes: int) -> None:
        self.keys = keys
        self.jwts = jwts
        self.max_token_bytes = max_token_bytes

    async def identify(self, headers: Mapping[str, str]) -> Identity:
        token = presented_key(headers)
        if token is not None and len(token) > self.max_token_bytes:
            raise AuthenticationFailed(f"The token is longer than the {self.max_token_bytes} "
                                       "bytes this gateway accepts.")
        if token is not None and self.jwts is not None and looks_like_jwt(token):
            return await self.jwts.verify(token, headers.get("origin"))
        if token is not None and looks_like_jwt(token):
            raise AuthenticationFailed("This gateway accepts no JWTs (no trusted issuer is "
                                       "configured); use a virtual key.")
        return await self.keys.authenticate(token)

    @staticmethod
    def acting_for(ident: Identity, headers: Mapping[str, str],
                   body_user: str | None) -> Identity:
        """``ident`` with the end user its request names, when it may name one."""
        named = headers.get(USER_HEADER)
        if named is None:
            if body_user is None or not ident.act_for_users:
                return ident
            named = body_user
        elif not ident.act_for_users:
            raise UserNotAllowed()
        if not 0 < len(named) <= MAX_CLAIM_ID or not named.isprintable():
            raise InvalidRequest(f"The end user's id must be 1 to {MAX_CLAIM_ID} printable "
                                 "characters.", param="user")
        return ident if named == ident.user else dataclasses.replace(ident, user=named)
