"""Admin accounts, their sessions and scoped API tokens.

The functions a dashboard (or any sign-in page) needs are here:

* :meth:`Accounts.verify_password` — the account behind a name and password, or None
  (the same time whether the name exists or not);
* :meth:`Accounts.login` — a password check that mints a **session** token
  (``auth.admin.session_ttl_s``);
* :meth:`Accounts.mint` — a session or an API **token** for an account, scoped to a
  role the account holds and bounded by ``auth.admin.token_max_ttl_s``;
* :meth:`Accounts.verify_token` — the :class:`~bastion.identity.roles.Actor` behind a
  presented token (cached for ``state.key_cache_ttl_s``; revocation, expiry, a
  disabled account or a lowered role take effect at once on this replica and within
  that time on others);
* :meth:`Accounts.revoke` — end a session (logout) or revoke a token.

Tokens look like ``bat_`` + 43 URL-safe characters and are stored as the same
keyed hash as virtual keys; they are shown once, when minted.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bastion.config.auth_settings import AdminAuthSettings
from bastion.core.errors import InsufficientRole, InvalidAdminToken, InvalidRequest, NotFound
from bastion.identity.account_store import Account, AccountStore, TokenKind, TokenRecord
from bastion.identity.passwords import MAX_PASSWORD, MIN_PASSWORD, Passwords
from bastion.identity.roles import GRANTS, ROLES, Actor, Role, actor_for

TOKEN_PREFIX = "bat_"  # noqa: S105 - the public prefix of admin tokens, not a secret
_TOKEN_SHAPE = re.compile(r"^bat_[A-Za-z0-9_\-]{43}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@+\-]{0,63}$")
_CACHE_MAX = 10_000


@dataclass(slots=True, frozen=True)
class NewToken:
    record: TokenRecord
    token: str  # shown once


def account_name(name: str) -> str:
    """A valid account name (lower-cased), or a 400 that says what one looks like."""
    norm = name.strip().lower()
    if not _NAME.match(norm):
        raise InvalidRequest("An account name is 1 to 64 characters: letters, digits and "
                             ". _ @ + -, starting with a letter or digit.", param="name")
    return norm


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
                             param="password")


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidRequest(f"`role` is one of {', '.join(ROLES)}.", param="role")
    return role


class Accounts:
    """Accounts and tokens over an :class:`AccountStore` (see the module docstring)."""

    def __init__(self, store: AccountStore, hash_token: Callable[[str], Awaitable[str]],
                 settings: AdminAuthSettings, cache_ttl_s: float = 5.0) -> None:
        self.store = store
        self.passwords = Passwords(settings.password_hashing)
        self.settings = settings
        self._hash = hash_token
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, Actor | None, float | None]] = {}

    # Accounts.
    async def create(self, name: str, role: str, password: str) -> Account:
        acc = Account(account_name(name), check_role(role), time.time())
        check_password(password)
        if not await self.store.insert_account(acc, await self.passwords.hash(password)):
            raise InvalidRequest(f"An account named {acc.name!r} exists already.",
                                 param="name")
        return acc

    async def get(self, name: str) -> Account:
        found = await self.store.account(name.strip().lower())
        if found is None:
            raise NotFound("No admin account has that name.")
        return found[0]

    async def all(self) -> list[Account]:
        return await self.store.accounts()

    async def update(self, name: str, *, role: str | None = None, password: str | None = None,
                     disabled: bool | None = None) -> Account:
        """Change an account; disabling it also revokes its sessions and tokens."""
        acc = await self.get(name)
        new_hash = None
        if password is not None:
            check_password(password)
            new_hash = await self.passwords.hash(password)
        now = time.time()
        await self.store.update_account(
            acc.name, role=check_role(role) if role is not None else None,
            password_hash=new_hash, disabled_at=now if disabled else None,
            enable=disabled is False)
        if disabled or password is not None:
            await self.store.revoke_tokens(now, account=acc.name)
        self._cache.clear()
        return await self.get(acc.name)

    # Sign-in and tokens (the dashboard's functions).
    async def verify_password(self, name: str, password: str) -> Account | None:
        """The enabled account ``name`` if ``password`` is its password, else None."""
        norm = name.strip().lower()
        found = await self.store.account(norm) if _NAME.match(norm) else None
        ok = await self.passwords.verify(found[1] if found else None, password[:MAX_PASSWORD])
        if not ok or found is None or found[0].disabled_at is not None:
            return None
        if self.passwords.needs_rehash(found[1]):  # the configured cost changed
            await self.store.update_account(norm, password_hash=await self.passwords.hash(
                password))
        return found[0]

    async def login(self, name: str, password: str) -> NewToken | None:
        """A session for ``name``, or None when the name or password is wrong."""
        acc = await self.verify_password(name, password)
        return await self.mint(acc, kind="session") if acc is not None else None

    async def mint(self, account: Account, *, kind: TokenKind = "token",
                   role: str | None = None, ttl_s: float | None = None,
                   label: str | None = None) -> NewToken:
        scoped = check_role(role) if role is not None else account.role
        if scoped not in GRANTS[account.role]:
            raise InsufficientRole(f"A {account.role} account cannot mint a {scoped} token.")
        most = self.settings.session_ttl_s if kind == "session" else \
            self.settings.token_max_ttl_s
        if ttl_s is not None and not 0 < ttl_s <= most:
            raise InvalidRequest(f"`expires_in_s` must be positive and at most {most:,.0f}.",
                                 param="expires_in_s")
        if label is not None and (len(label) > 200 or not label.isprintable()):
            raise InvalidRequest("`label` must be at most 200 printable characters.",
                                 param="label")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        rec = TokenRecord("tok_" + secrets.token_hex(8), account.name, scoped, kind, label, now,
                          now + (ttl_s or most))
        await self.store.insert_token(rec, await self._hash(token))
        return NewToken(rec, token)

    async def verify_token(self, token: str) -> Actor:
        """The actor behind ``token``, or 401 ``invalid_admin_token``."""
        if not _TOKEN_SHAPE.match(token):
            raise InvalidAdminToken()
        digest = await self._hash(token)
        mono = time.monotonic()
        hit = self._cache.get(digest)
        if hit is None or hit[0] < mono:
            actor, until = await self._lookup(digest)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            hit = self._cache[digest] = (mono + self._ttl, actor, until)
        _, actor, until = hit
        if actor is None or (until is not None and until <= time.time()):
            raise InvalidAdminToken()
        return actor

    async def _lookup(self, digest: str) -> tuple[Actor | None, float | None]:
        found = await self.store.find_token(digest)
        if found is None:
            return None, None
        rec, acc = found
        if rec.revoked_at is not None or acc.disabled_at is not None:
            return None, None
        return actor_for(acc.name, acc.role, rec.role, rec.kind, rec.id), rec.expires_at

    async def token(self, token_id: str) -> TokenRecord:
        rec = await self.store.token(token_id[:64])
        if rec is None:
            raise NotFound("No admin token has that id.")
        return rec

    async def tokens(self, account: str | None = None) -> list[TokenRecord]:
        """Live tokens (of ``account``, or every account's)."""
        return await self.store.tokens(account, active_at=time.time())

    async def revoke(self, token_id: str) -> TokenRecord:
        rec = await self.token(token_id)
        await self.store.revoke_tokens(time.time(), token_id=rec.id)
        self._cache.clear()
        return rec
