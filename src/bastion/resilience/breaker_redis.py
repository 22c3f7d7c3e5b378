"""Breaker state shared between replicas through Redis.

One hash per target (``{prefix}{target}``) holds ``open_until`` (Redis server time,
ms), ``fails`` (consecutive failures) and the half-open probe slots. Every change
is one Lua script, so replicas agree without races, and time is Redis's own clock,
so replicas' clocks may disagree. The rolling failure-rate window stays per
replica (a sample of the traffic is enough to judge a rate); when it trips, the
replica opens the shared breaker for everyone.

To keep the hot path cheap, a closed breaker with no recent failure costs no Redis
call on success, and ``allow`` asks Redis only when the local mirror is not
closed or was last refreshed more than ``refresh_s`` ago.

Redis unreachable or slower than ``timeout_s``: the board falls back to the local
breakers (logged once per outage) and tries Redis again after ``retry_s``. It
never raises and never hangs on Redis.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.exceptions import RedisError

from bastion.observe.logging import get_logger
from bastion.observe.metrics import Metrics
from bastion.resilience.breaker import Breaker, BreakerBoard, BreakerConfig, State


def _log() -> Any:
    """A logger per event (events here are rare: failures, retries, state changes), so
    a reconfigured structlog (tests, the demo) takes effect at once."""
    return get_logger("bastion.breaker")

# Replies are {state, ms_left_open, consecutive_fails}. ARGV[1] max probes,
# ARGV[2] probe timeout ms.
_ALLOW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ou = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local fails = tonumber(redis.call('HGET', KEYS[1], 'fails') or '0')
if ou == 0 then return {0, 0, fails} end
if now < ou then return {2, ou - now, fails} end
local probes = tonumber(redis.call('HGET', KEYS[1], 'probes') or '0')
local reset = tonumber(redis.call('HGET', KEYS[1], 'probe_reset') or '0')
if now >= reset then probes = 0 end
if probes >= tonumber(ARGV[1]) then return {3, 0, fails} end
redis.call('HSET', KEYS[1], 'probes', probes + 1, 'probe_reset', now + tonumber(ARGV[2]))
return {1, 0, fails}
"""

_SUCCESS = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ou = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if ou ~= 0 and now < ou then return {2, ou - now, 0} end
redis.call('DEL', KEYS[1])
return {0, 0, 0}
"""

# ARGV[1] threshold, ARGV[2] cool-down ms, ARGV[3] open-for ms (0: none), ARGV[4] max
# open ms, ARGV[5] key ttl ms.
_FAILURE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ou = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local open_for = math.min(tonumber(ARGV[3]), tonumber(ARGV[4]))
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
if ou ~= 0 and now < ou then
  if open_for > 0 and now + open_for > ou then
    redis.call('HSET', KEYS[1], 'open_until', now + open_for)
    return {2, open_for, fails}
  end
  return {2, ou - now, fails}
end
if ou ~= 0 or open_for > 0 or fails >= tonumber(ARGV[1]) then
  local wait = open_for
  if wait <= 0 then wait = math.min(tonumber(ARGV[2]), tonumber(ARGV[4])) end
  redis.call('HSET', KEYS[1], 'open_until', now + wait, 'probes', 0)
  return {2, wait, fails}
end
return {0, 0, fails}
"""


class RedisBreakerBoard(BreakerBoard):
    """A :class:`BreakerBoard` whose state lives in Redis (see the module docstring)."""

    shared = True

    def __init__(self, cfg: BreakerConfig, redis: Any, metrics: Metrics | None = None,
                 enabled: bool = True, prefix: str = "bastion:breaker:",
                 timeout_s: float = 0.25, refresh_s: float = 0.5,
                 retry_s: float = 5.0) -> None:
        super().__init__(cfg, metrics, enabled)
        self.redis = redis
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self.retry_s = retry_s
        self._allow = redis.register_script(_ALLOW)
        self._success = redis.register_script(_SUCCESS)
        self._failure = redis.register_script(_FAILURE)
        self._refreshed: dict[str, float] = {}
        self._down_until = 0.0
        self._key_ttl_ms = int((cfg.max_open_s + cfg.window_s) * 2000) + 60_000

    @property
    def redis_ok(self) -> bool:
        return time.monotonic() >= self._down_until

    async def _run(self, script: Any, target: str, *args: float) -> list[int] | None:
        """Run ``script`` for ``target``; ``None`` when Redis cannot answer in time."""
        if not self.redis_ok:
            return None
        try:
            async with asyncio.timeout(self.timeout_s):
                reply = await script(keys=[self.prefix + target], args=list(args))
        except (RedisError, OSError, TimeoutError) as e:
            if self.redis_ok:
                _log().warning("breaker_redis_unavailable", error=type(e).__name__,
                             fallback="local", retry_in_s=self.retry_s)
            self._down_until = time.monotonic() + self.retry_s
            return None
        return [int(x) for x in reply]

    def _adopt(self, b: Breaker, reply: list[int]) -> None:
        state, ms_left, fails = reply
        self._refreshed[b.name] = time.monotonic()
        if state == State.OPEN:
            b.mirror(State.OPEN, ms_left / 1000, fails, "shared")
        elif state == State.CLOSED:
            b.mirror(State.CLOSED, 0.0, fails, "shared")

    async def allow(self, target: str) -> bool:
        if not self.enabled:
            return True
        b = self.get(target)
        fresh = time.monotonic() - self._refreshed.get(target, 0.0) < self.refresh_s
        if b.state is State.CLOSED and fresh:
            return True
        reply = await self._run(self._allow, target, self.cfg.half_open_probes,
                                int(self.cfg.cooldown_s * 1000))
        if reply is None:
            return b.allow()
        self._adopt(b, reply)
        if reply[0] in (State.OPEN, 3):
            return False
        if reply[0] == State.HALF_OPEN and b.state is State.OPEN:
            b.open_until = 0.0  # the shared cool-down passed; the local mirror follows
        return True

    async def success(self, target: str) -> None:
        if not self.enabled:
            return
        b = self.get(target)
        quiet = b.state is State.CLOSED and not b.consecutive
        b.record_success()
        if quiet:
            return  # nothing to reset in Redis: saves a round trip per healthy call
        reply = await self._run(self._success, target)
        if reply is not None:
            self._adopt(b, reply)

    async def failure(self, target: str, open_for_s: float | None = None) -> None:
        if not self.enabled:
            return
        b = self.get(target)
        was = b.state
        b.record_failure(open_for_s)
        if b.state is State.OPEN and was is State.CLOSED and not open_for_s:
            # tripped locally (threshold or rate): open the shared breaker for everyone
            open_for_s = max(0.001, b.open_until - time.monotonic())
        reply = await self._run(
            self._failure, target, self.cfg.failure_threshold, int(self.cfg.cooldown_s * 1000),
            int((open_for_s or 0) * 1000), int(self.cfg.max_open_s * 1000), self._key_ttl_ms)
        if reply is not None:
            self._adopt(b, reply)

    async def aclose(self) -> None:
        self._refreshed.clear()
