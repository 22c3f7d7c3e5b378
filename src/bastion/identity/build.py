"""Building the identity parts from the settings, for :class:`bastion.app.Gateway`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from bastion.config.secrets import Resolver
from bastion.config.settings import Settings
from bastion.identity.account_store import AccountStore
from bastion.identity.accounts import Accounts
from bastion.identity.admin_oidc import AdminOidcVerifier
from bastion.identity.admins import Admins, MasterCheck
from bastion.identity.audit import AdminAudit
from bastion.identity.callers import Callers
from bastion.keys import KeyService
from bastion.stores.audit import AuditLog
from bastion.stores.base import Database

Hooks = list[Callable[[], Awaitable[None]]]


def build_callers(settings: Settings, keys: KeyService, resolvers: Mapping[str, Resolver],
                  on_start: Hooks, on_close: Hooks) -> Callers:
    """Virtual keys, plus caller JWTs when ``auth.jwt`` lists issuers (their key sets are
    fetched at start-up and refreshed in the background until close)."""
    jwts = None
    if settings.auth.jwt:
        from bastion.identity.jwt_auth import JwtAuthenticator

        jwts = JwtAuthenticator(settings.auth, settings.models, resolvers)
        on_start.append(jwts.start)
        on_close.append(jwts.aclose)
    return Callers(keys, jwts, settings.auth.max_token_bytes)


def build_admins(settings: Settings, db: Database, keys: KeyService,
                 resolvers: Mapping[str, Resolver], check_master: MasterCheck,
                 on_start: Hooks, on_close: Hooks) -> Admins:
    """Admin accounts and tokens, OIDC sign-in when ``auth.admin.oidc`` lists issuers, the
    master key as break-glass, and the admin audit (tokens and user ids hashed with the
    virtual keys' HMAC secret)."""
    accounts = Accounts(AccountStore(db), keys.hash_key, settings.auth.admin,
                        settings.state.key_cache_ttl_s)
    oidc = None
    if settings.auth.admin.oidc:
        oidc = AdminOidcVerifier(settings.auth.admin.oidc, resolvers)
        on_start.append(oidc.start)
        on_close.append(oidc.aclose)
    return Admins(accounts, AdminAudit(AuditLog(db), keys.hash_key), check_master, oidc)
