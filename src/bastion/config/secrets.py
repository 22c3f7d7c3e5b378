"""Secret references and their resolvers.

A reference is ``scheme:locator``. Resolvers are a registry keyed by scheme;
each returns the secret's text. :class:`Secret` never prints its value, and
:class:`SecretSource` caches a resolved value, re-reading it after ``ttl_s`` or
when :meth:`SecretSource.invalidate` is called (on SIGHUP).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path


class SecretError(Exception):
    """A secret reference could not be resolved. The message never holds the value."""


class Secret:
    """A value that never shows itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


Resolver = Callable[[str], Awaitable[str]]


def _env_resolver(env: Mapping[str, str]) -> Resolver:
    async def resolve(locator: str) -> str:
        value = env.get(locator)
        if not value:
            raise SecretError(f"environment variable {locator} is not set")
        return value

    return resolve


async def _file_resolver(locator: str) -> str:
    def read() -> str:
        return Path(locator).read_text(encoding="utf-8").strip()

    try:
        return await asyncio.to_thread(read)
    except OSError as e:
        raise SecretError(f"cannot read secret file {locator}: {e.strerror}") from None


def default_resolvers(env: Mapping[str, str] | None = None) -> dict[str, Resolver]:
    """env:, file:, aws-sm: and vault: resolvers (the last two read their settings from env)."""
    from bastion.config.remote_secrets import aws_sm_resolver, vault_resolver

    env = os.environ if env is None else env
    return {
        "env": _env_resolver(env),
        "file": _file_resolver,
        "aws-sm": aws_sm_resolver(env),
        "vault": vault_resolver(env),
    }


class SecretSource:
    """A cached, refreshable secret behind a reference such as ``env:OPENAI_API_KEY``."""

    def __init__(
        self, ref: str, resolvers: Mapping[str, Resolver], ttl_s: float | None = None
    ) -> None:
        scheme, _, locator = ref.partition(":")
        if scheme not in resolvers or not locator:
            raise SecretError(f"unknown secret reference scheme in {scheme}:…")
        self.ref = ref
        self._resolve = resolvers[scheme]
        self._locator = locator
        self._ttl_s = ttl_s
        self._value: Secret | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the cached value; the next :meth:`get` reads it again."""
        self._fetched_at = 0.0
        self._value = None

    def _fresh(self) -> bool:
        if self._value is None:
            return False
        return self._ttl_s is None or time.monotonic() - self._fetched_at < self._ttl_s

    async def get(self) -> Secret:
        if self._fresh():
            assert self._value is not None
            return self._value
        async with self._lock:
            if not self._fresh():
                self._value = Secret(await self._resolve(self._locator))
                self._fetched_at = time.monotonic()
            assert self._value is not None
            return self._value
