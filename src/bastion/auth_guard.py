"""Guarding authentication: failed attempts throttled per client address and logged
(rate-limited), and a master key too short to resist guessing refused at start-up.

Every check of a client's credential (a virtual key or caller JWT on the API routes,
the master key on admin routes and on ``/readyz``'s detail, a password at
``/admin/login``) goes through one :class:`AuthThrottle` per worker:

* an address with ``max_failures`` failures within ``window_s`` is **blocked** for
  ``block_s``: every authentication from it is refused at once with 429
  ``too_many_auth_failures`` and ``Retry-After``, before any key is hashed or looked
  up, so guessing runs at a few attempts a minute instead of thousands a second.
  A right key from a blocked address is refused too (else the block would still
  answer guesses). IPv6 addresses count by their /64 (one host owns a whole /64).
* each failure is an ``auth_failed`` log line, at most one per ``log_interval_s``
  per worker, carrying how many were not logged since (``suppressed``), so a flood
  cannot flood the log; an address being blocked is one ``auth_throttled`` line.
  No line ever holds the presented key.

State is per worker and bounded (:data:`MAX_ADDRESSES`); with N workers or replicas
an attacker gets at most N times the allowance. Behind a reverse proxy every client
has the proxy's address unless ``client_address_header`` names the header the proxy
sets (see ``docs/security.md``).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from bastion.config.secrets import SecretError, SecretSource
from bastion.config.security_settings import AuthThrottleSettings
from bastion.core.errors import AuthenticationFailed, AuthThrottled
from bastion.observe.logging import get_logger

T = TypeVar("T")
MAX_ADDRESSES = 50_000
MIN_MASTER_KEY_CHARS = 32


def _log() -> Any:
    """A logger per event (events here are rare, the failure log is rate-limited), so a
    reconfigured structlog (tests, the demo) takes effect at once."""
    return get_logger("bastion.auth")


class WeakMasterKey(Exception):
    """The configured master key is too short; the gateway refuses to start."""


def address_key(addr: str | None) -> str:
    """What the throttle counts by: the address, an IPv6 address by its /64."""
    if not addr:
        return "?"
    if ":" in addr:
        try:
            net = ipaddress.IPv6Network(f"{addr.split('%', 1)[0]}/64", strict=False)
        except ValueError:
            return addr
        return str(net)
    return addr


class AuthThrottle:
    """Failed authentications per client address (see the module docstring)."""

    def __init__(self, s: AuthThrottleSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.s = s
        self._clock = clock
        # address -> [window start, failures in window, blocked until]
        self._seen: dict[str, list[float]] = {}
        self._next_log = 0.0
        self._suppressed = 0
        header = s.client_address_header
        self._header = header.lower() if header else None

    def address(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The client's address: the proxy's header when configured, else the peer."""
        if self._header is not None:
            value = headers.get(self._header)
            if value:
                return address_key(value.rsplit(",", 1)[-1].strip())
        return address_key(peer)

    def check(self, addr: str) -> None:
        """Raise :class:`AuthThrottled` while ``addr`` is blocked."""
        if not self.s.enabled:
            return
        entry = self._seen.get(addr)
        if entry is not None:
            wait = entry[2] - self._clock()
            if wait > 0:
                raise AuthThrottled(retry_after_s=wait)

    def failed(self, addr: str, kind: str, path: str) -> None:
        """Count one failure of ``addr`` (``kind``: ``virtual_key`` or ``master_key``)."""
        now = self._clock()
        self._log_failure(now, addr, kind, path)
        if not self.s.enabled:
            return
        entry = self._seen.get(addr)
        if entry is None:
            if len(self._seen) >= MAX_ADDRESSES:
                self._evict(now)
            entry = self._seen[addr] = [now, 0.0, 0.0]
        elif now - entry[0] > self.s.window_s:
            entry[0], entry[1] = now, 0.0
        entry[1] += 1
        if entry[1] >= self.s.max_failures and entry[2] <= now:
            entry[2] = now + self.s.block_s
            entry[0], entry[1] = entry[2], 0.0  # a fresh count once the block ends
            _log().warning("auth_throttled", address=addr, failures=self.s.max_failures,
                         window_s=self.s.window_s, block_s=self.s.block_s)

    def _log_failure(self, now: float, addr: str, kind: str, path: str) -> None:
        if now < self._next_log:
            self._suppressed += 1
            return
        self._next_log = now + self.s.log_interval_s
        suppressed, self._suppressed = self._suppressed, 0
        _log().info("auth_failed", address=addr, credential=kind, path=path[:200],
                  suppressed=suppressed)

    def _evict(self, now: float) -> None:
        """Forget addresses neither blocked nor inside their window; if that frees too
        little, the oldest half (memory stays bounded whatever the traffic)."""
        edge = now - self.s.window_s
        for a in [a for a, e in self._seen.items() if e[2] <= now and e[0] < edge]:
            del self._seen[a]
        if len(self._seen) >= MAX_ADDRESSES:
            for a in list(self._seen)[: MAX_ADDRESSES // 2]:
                del self._seen[a]

    async def guard(self, addr: str, kind: str, path: str,
                    attempt: Callable[[], Awaitable[T]]) -> T:
        """``await attempt()`` unless ``addr`` is blocked; an
        :class:`AuthenticationFailed` it raises counts as a failure of ``addr``."""
        self.check(addr)
        try:
            return await attempt()
        except AuthenticationFailed:
            self.failed(addr, kind, path)
            raise


async def require_strong_master_key(source: SecretSource | None, ref: str | None) -> None:
    """Raise :class:`WeakMasterKey` when a master key is configured and readable but
    shorter than :data:`MIN_MASTER_KEY_CHARS`. (One that cannot be read leaves the
    admin API off, as before: every admin call is refused.)"""
    if source is None:
        return
    try:
        value = (await source.get()).reveal()
    except SecretError:
        return
    if len(value) < MIN_MASTER_KEY_CHARS:
        where = "BASTION_MASTER_KEY" if ref == "env:BASTION_MASTER_KEY" else \
            f"the master key ({ref}, the admin.master_key setting; BASTION_MASTER_KEY by default)"
        raise WeakMasterKey(
            f"{where} is {len(value)} characters long; the gateway needs at least "
            f"{MIN_MASTER_KEY_CHARS} so that it cannot be guessed. Set BASTION_MASTER_KEY "
            "to a long random value, e.g. the output of `openssl rand -hex 32`.")
