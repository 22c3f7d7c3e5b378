"""Admin accounts and their tokens in the database (migration 3), on the SQL interface.

``admin_accounts``: name (the id), role, Argon2id password hash, created/disabled
times. ``admin_tokens``: sessions and API tokens, stored only as the keyed hash of
the token (as virtual keys are), with the role they were scoped to, an expiry and a
revocation time. Nothing here ever holds a token or a password in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from bastion.identity.roles import Role
from bastion.stores.base import SQL

TokenKind = Literal["session", "token"]


@dataclass(slots=True, frozen=True)
class Account:
    name: str
    role: Role
    created_at: float
    disabled_at: float | None = None

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "created_at": self.created_at,
                "disabled": self.disabled_at is not None, "disabled_at": self.disabled_at}


@dataclass(slots=True, frozen=True)
class TokenRecord:
    id: str
    account: str
    role: Role
    kind: TokenKind
    label: str | None
    created_at: float
    expires_at: float | None
    revoked_at: float | None = None

    def view(self) -> dict[str, Any]:
        """What the API shows of a token: never the token or its hash."""
        return {"id": self.id, "account": self.account, "role": self.role, "kind": self.kind,
                "label": self.label, "created_at": self.created_at,
                "expires_at": self.expires_at, "revoked": self.revoked_at is not None}


_TOKEN_COLS = ("t.id, t.account, t.role, t.kind, t.label, t.created_at, "  # noqa: S105
               "t.expires_at, t.revoked_at")  # (column names, not a password)


def _token(row: tuple[Any, ...]) -> TokenRecord:
    return TokenRecord(row[0], row[1], cast(Role, row[2]), cast(TokenKind, row[3]), row[4],
                       float(row[5]), row[6], row[7])


def _account(row: tuple[Any, ...]) -> Account:
    return Account(row[0], cast(Role, row[1]), float(row[2]), row[3])


class AccountStore:
    """Rows of ``admin_accounts`` and ``admin_tokens``."""

    def __init__(self, db: SQL) -> None:
        self.db = db

    async def insert_account(self, acc: Account, password_hash: str) -> bool:
        """Add ``acc``; False when the name is taken."""
        n = await self.db.sql_execute(
            "INSERT INTO admin_accounts(name, role, password_hash, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            acc.name, acc.role, password_hash, acc.created_at)
        return n == 1

    async def account(self, name: str) -> tuple[Account, str] | None:
        """The account and its password hash."""
        rows = await self.db.sql_fetch(
            "SELECT name, role, created_at, disabled_at, password_hash FROM admin_accounts "
            "WHERE name = ?", name)
        return (_account(rows[0]), str(rows[0][4])) if rows else None

    async def accounts(self) -> list[Account]:
        rows = await self.db.sql_fetch(
            "SELECT name, role, created_at, disabled_at FROM admin_accounts ORDER BY name")
        return [_account(r) for r in rows]

    async def update_account(self, name: str, *, role: Role | None = None,
                             password_hash: str | None = None,
                             disabled_at: float | None = None, enable: bool = False) -> bool:
        sets: list[str] = []
        args: list[Any] = []
        for col, value in (("role", role), ("password_hash", password_hash),
                           ("disabled_at", disabled_at)):
            if value is not None:
                sets.append(f"{col} = ?")
                args.append(value)
        if enable:
            sets.append("disabled_at = NULL")
        if not sets:
            return True
        n = await self.db.sql_execute(
            f"UPDATE admin_accounts SET {', '.join(sets)} WHERE name = ?",  # noqa: S608
            *args, name)
        return n == 1

    async def insert_token(self, rec: TokenRecord, token_hash: str) -> None:
        await self.db.sql_execute(
            "INSERT INTO admin_tokens(id, hash, account, role, kind, label, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rec.id, token_hash, rec.account, rec.role, rec.kind, rec.label, rec.created_at,
            rec.expires_at)

    async def find_token(self, token_hash: str) -> tuple[TokenRecord, Account] | None:
        rows = await self.db.sql_fetch(
            f"SELECT {_TOKEN_COLS}, a.name, a.role, a.created_at, a.disabled_at "  # noqa: S608
            "FROM admin_tokens t JOIN admin_accounts a ON a.name = t.account "
            "WHERE t.hash = ?", token_hash)
        return (_token(rows[0]), _account(rows[0][8:])) if rows else None

    async def token(self, token_id: str) -> TokenRecord | None:
        rows = await self.db.sql_fetch(
            f"SELECT {_TOKEN_COLS} FROM admin_tokens t WHERE t.id = ?", token_id)  # noqa: S608
        return _token(rows[0]) if rows else None

    async def tokens(self, account: str | None = None, *, active_at: float | None = None
                     ) -> list[TokenRecord]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if account is not None:
            where.append("t.account = ?")
            args.append(account)
        if active_at is not None:
            where.append("t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)")
            args.append(active_at)
        rows = await self.db.sql_fetch(
            f"SELECT {_TOKEN_COLS} FROM admin_tokens t WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY t.created_at", *args)
        return [_token(r) for r in rows]

    async def revoke_tokens(self, at: float, *, token_id: str | None = None,
                            account: str | None = None) -> int:
        """Revoke one token, or every token of ``account``; the number revoked."""
        col, value = ("id", token_id) if token_id is not None else ("account", account)
        return await self.db.sql_execute(
            f"UPDATE admin_tokens SET revoked_at = ? WHERE {col} = ? "  # noqa: S608
            "AND revoked_at IS NULL", at, value)
