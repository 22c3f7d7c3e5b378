"""Admin passwords: Argon2id (argon2-cffi), hashed and checked off the event loop.

A hash costs tens of milliseconds of CPU and ``memory_kib`` of memory by design,
so it runs in a worker thread, at most :data:`CONCURRENCY` at a time: a flood of
logins queues instead of taking every core and gigabytes of memory.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bastion.config.auth_settings import PasswordHashing

CONCURRENCY = 2
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


class Passwords:
    """Hash and verify with the configured cost (see ``auth.admin.password_hashing``)."""

    def __init__(self, s: PasswordHashing) -> None:
        self._hasher = PasswordHasher(time_cost=s.time_cost, memory_cost=s.memory_kib,
                                      parallelism=s.parallelism)
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; with no hash (unknown account) a dummy hash is
        checked, so the answer takes as long either way."""
        real = password_hash is not None
        if password_hash is None:
            if self._dummy is None:
                self._dummy = await self.hash("no such account: a dummy password")
            password_hash = self._dummy
        async with self._slots:
            try:
                ok = await asyncio.to_thread(self._hasher.verify, password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
        return ok and real

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
