"""Dashboard sign-in, session cookies and CSRF protection.

* **Sign-in** uses the admin accounts (:meth:`Accounts.login` mints a session token of
  ``auth.admin.session_ttl_s``). The master key is accepted in the password field as
  the break-glass credential: its use is logged (WARNING ``admin_master_key_used``)
  and audited (``login.master-key``); its session is a signed token (HMAC with the
  master key) valid for at most an hour, and changing the master key ends them all.
* **The cookie** ``bastion_ui`` holds the session token: ``HttpOnly`` (page scripts
  never see it), ``SameSite=Strict`` (other sites' pages never send it), ``Path=/ui``,
  and ``Secure`` when the dashboard is served over TLS (directly, or behind a proxy
  that says ``X-Forwarded-Proto: https``).
* **CSRF**: every state-changing form carries a token derived from the session (a keyed
  hash: nothing to store, the same on every replica); a POST without the right token,
  or whose ``Origin`` is another site, or that the browser marks ``Sec-Fetch-Site:
  cross-site``, is refused with 403 before anything happens. The sign-in form uses a
  double-submit token (a random value in a cookie and in the form).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from bastion.config.secrets import SecretError, SecretSource
from bastion.core.errors import GatewayError, InsufficientRole
from bastion.identity.accounts import TOKEN_PREFIX, Accounts
from bastion.identity.roles import MASTER, Actor
from bastion.observe.logging import get_logger

COOKIE = "bastion_ui"
LOGIN_COOKIE = "bastion_ui_login"
BREAK_GLASS_PREFIX = "bgs."
BREAK_GLASS_TTL_S = 3600.0


class CsrfRefused(InsufficientRole):
    code = "csrf_refused"
    default_message = ("This form did not come from a page of this dashboard (or its "
                       "session changed). Reload the page and try again.")


@dataclass(frozen=True, slots=True)
class UiSession:
    actor: Actor
    token: str  # the cookie's value
    csrf: str  # the token every form of this session carries


def is_secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("x-forwarded-proto", "") == "https"


def same_origin(request: web.Request) -> bool:
    """False when the browser says the request came from another site."""
    if request.headers.get("sec-fetch-site", "same-origin") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


class UiSessions:
    """Sign-in, cookies and CSRF for the dashboard (see the module docstring)."""

    def __init__(self, accounts: Accounts, master: SecretSource | None,
                 keyed_hash: Callable[[str], Awaitable[str]]) -> None:
        self.accounts = accounts
        self.master = master
        self._hash = keyed_hash

    async def _master_value(self) -> str | None:
        if self.master is None:
            return None
        try:
            return (await self.master.get()).reveal()
        except SecretError:
            return None

    async def login(self, name: str, password: str) -> tuple[str, Actor, float] | None:
        """A new session token, its actor and expiry; None when nothing matched."""
        acc = await self.accounts.verify_password(name, password) if name.strip() else None
        if acc is not None:
            new = await self.accounts.mint(acc, kind="session")
            actor = await self.accounts.verify_token(new.token)
            return new.token, actor, new.record.expires_at or time.time()
        master = await self._master_value()
        if master and hmac.compare_digest(password.encode(), master.encode()):
            until = time.time() + min(BREAK_GLASS_TTL_S,
                                      self.accounts.settings.session_ttl_s)
            body = f"{int(until)}.{secrets.token_urlsafe(16)}"
            mac = hmac.new(master.encode(), body.encode(), hashlib.sha256).hexdigest()
            return f"{BREAK_GLASS_PREFIX}{body}.{mac}", MASTER, until
        return None

    async def actor(self, token: str) -> Actor | None:
        if token.startswith(TOKEN_PREFIX):
            try:
                return await self.accounts.verify_token(token)
            except GatewayError:
                return None
        if token.startswith(BREAK_GLASS_PREFIX):
            master = await self._master_value()
            parts = token[len(BREAK_GLASS_PREFIX):].split(".")
            if master is None or len(parts) != 3 or not parts[0].isdigit():
                return None
            body = f"{parts[0]}.{parts[1]}"
            mac = hmac.new(master.encode(), body.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(mac, parts[2]) and int(parts[0]) > time.time():
                return MASTER
        return None

    async def csrf_for(self, token: str) -> str:
        return (await self._hash("ui-csrf:" + token))[:40]

    async def current(self, request: web.Request) -> UiSession | None:
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 512:
            return None
        actor = await self.actor(token)
        if actor is None:
            return None
        return UiSession(actor, token, await self.csrf_for(token))

    @staticmethod
    def check_post(request: web.Request, sent: str | None, expected: str) -> None:
        """Refuse a forged cross-site POST (see the module docstring)."""
        if not same_origin(request) or not sent or not hmac.compare_digest(
                sent.encode(), expected.encode()):
            raise CsrfRefused()

    async def end(self, session: UiSession) -> None:
        if session.actor.token_id:
            await self.accounts.revoke(session.actor.token_id)

    @staticmethod
    def set_cookie(resp: web.StreamResponse, request: web.Request, name: str, value: str,
                   max_age: float | None) -> None:
        resp.set_cookie(name, value, max_age=None if max_age is None else int(max_age),
                        path="/ui", httponly=True, samesite="Strict",
                        secure=is_secure(request))

    @staticmethod
    def clear_cookie(resp: web.StreamResponse, request: web.Request, name: str) -> None:
        resp.set_cookie(name, "", max_age=0, path="/ui", httponly=True, samesite="Strict",
                        secure=is_secure(request))


log = get_logger("bastion.dashboard")
