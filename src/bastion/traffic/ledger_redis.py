"""The ledger in Redis: one Lua script to check-and-reserve, one to settle.

Same semantics as :class:`~bastion.traffic.ledger.MemoryLedger`, shared by every
replica. Time is Redis's own clock (``TIME``), so replicas' clocks do not
matter. Layout per counter key ``K`` (all under ``traffic.redis_prefix``):

* window: ``K:z`` sorted set of ``rid:amount`` scored by admission time (ms),
  ``K:s`` the running sum; both expire a little after the window.
* quota: hash ``K`` (``spent``, ``reserved``, ``alerted``) and ``K:r`` sorted set
  of ``rid:amount`` scored by the reservation's expiry; periodic quotas carry
  the period's id in ``K`` and expire with the period.

A call that fails or takes longer than ``timeout_s`` raises
:class:`LedgerUnavailable`; the caller decides what that means (see
:mod:`bastion.traffic.shared`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bastion.traffic.ledger import Charge, Verdict

# Arguments are packed into one string per call ("f1,f2,...|f1,f2,...", one group per
# key) and answers come back as one string: far less encoding and parsing than one
# RESP item per number, which is most of the client's CPU per call.
_UNPACK = """
local function amt(m) return tonumber(string.match(m, ':(%-?%d+)$')) or 0 end
local function unpack_spec(spec)
  local out = {}
  for group in string.gmatch(spec, '[^|]+') do
    local f = {}
    for v in string.gmatch(group, '[^,]+') do f[#f + 1] = v end
    out[#out + 1] = f
  end
  return out
end
-- the sum inside window counter k (ms) now, evicting what left the window
local function window_sum(k, win, now)
  local zk, sk = k .. ':z', k .. ':s'
  local sum = tonumber(redis.call('GET', sk) or '0')
  local old = redis.call('ZRANGEBYSCORE', zk, '-inf', now - win)
  if #old > 0 then
    for j = 1, #old do sum = sum - amt(old[j]) end
    redis.call('ZREMRANGEBYSCORE', zk, '-inf', now - win)
    if sum < 0 or redis.call('ZCARD', zk) == 0 then sum = 0 end
    redis.call('SET', sk, sum, 'PX', win + 1000)
  end
  return sum
end
"""

RESERVE = _UNPACK + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rid, hold = ARGV[1], tonumber(ARGV[2])
local spec = unpack_spec(ARGV[3])
local n = #KEYS
local sums = {}
for i = 1, n do
  local k, f = KEYS[i], spec[i]
  local win, limit, amount = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
  if win > 0 then
    local zk = k .. ':z'
    local sum = window_sum(k, win, now)
    sums[i] = sum
    if sum + amount > limit then
      local retry = -1
      if amount <= limit then
        retry = win
        local need, freed = sum + amount - limit, 0
        local first = redis.call('ZRANGE', zk, 0, 999, 'WITHSCORES')
        for j = 1, #first, 2 do
          freed = freed + amt(first[j])
          if freed >= need then retry = tonumber(first[j + 1]) + win - now; break end
        end
      end
      return string.format('0,%d,%d', i, retry)
    end
  else
    if redis.call('EXISTS', k) == 0 then
      if f[5] == '1' then return string.format('-1,%d,-1', i) end
      if amount > limit then return string.format('0,%d,-1', i) end
      sums[i] = 0
    else
      local rk = k .. ':r'
      local reserved = tonumber(redis.call('HGET', k, 'reserved') or '0')
      local old = redis.call('ZRANGEBYSCORE', rk, '-inf', now)
      if #old > 0 then
        for j = 1, #old do reserved = reserved - amt(old[j]) end
        redis.call('ZREMRANGEBYSCORE', rk, '-inf', now)
        if reserved < 0 then reserved = 0 end
        redis.call('HSET', k, 'reserved', reserved)
      end
      local spent = tonumber(redis.call('HGET', k, 'spent') or '0')
      sums[i] = spent + reserved
      if sums[i] + amount > limit then return string.format('0,%d,-1', i) end
    end
  end
end
local out = {'1', '0', '0'}
for i = 1, n do
  local k, f = KEYS[i], spec[i]
  local win, limit, amount = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
  local member = rid .. ':' .. f[3]
  if win > 0 then
    local zk, sk = k .. ':z', k .. ':s'
    redis.call('ZADD', zk, now, member)
    redis.call('PEXPIRE', zk, win + 1000)
    redis.call('SET', sk, sums[i] + amount, 'PX', win + 1000)
    local first = redis.call('ZRANGE', zk, 0, 0, 'WITHSCORES')
    out[#out + 1] = string.format('%d', limit - sums[i] - amount)
    out[#out + 1] = string.format('%d', tonumber(first[2]) + win - now)
  else
    local rk, ttl = k .. ':r', tonumber(f[4])
    redis.call('ZADD', rk, now + hold, member)
    redis.call('HINCRBY', k, 'reserved', f[3])
    if ttl > 0 then
      redis.call('PEXPIRE', k, ttl)
      redis.call('PEXPIRE', rk, ttl)
    end
    out[#out + 1] = string.format('%d', limit - sums[i] - amount)
    out[#out + 1] = '0'
  end
end
return table.concat(out, ',')
"""

SETTLE = _UNPACK + """
local rid = ARGV[1]
local spec = unpack_spec(ARGV[2])
local alerts = {}
for i = 1, #KEYS do
  local k, f = KEYS[i], spec[i]
  local win, held, real = tonumber(f[1]), f[2], f[3]
  local alert_at, ttl = tonumber(f[4]), tonumber(f[5])
  if win > 0 then
    local zk, sk = k .. ':z', k .. ':s'
    local score = redis.call('ZSCORE', zk, rid .. ':' .. held)
    if score and held ~= real then
      redis.call('ZREM', zk, rid .. ':' .. held)
      redis.call('ZADD', zk, score, rid .. ':' .. real)
      if redis.call('EXISTS', sk) == 1 then
        redis.call('INCRBY', sk, tonumber(real) - tonumber(held))
      end
    end
  else
    local before = tonumber(redis.call('HGET', k, 'spent') or '0')
    if redis.call('ZREM', k .. ':r', rid .. ':' .. held) == 1 then
      redis.call('HINCRBY', k, 'reserved', -tonumber(held))
    end
    redis.call('HINCRBY', k, 'spent', real)
    if ttl > 0 and redis.call('PTTL', k) < 0 then redis.call('PEXPIRE', k, ttl) end
    local after = before + tonumber(real)
    if alert_at > 0 and before < alert_at and after >= alert_at then
      if redis.call('HSETNX', k, 'alerted', '1') == 1 then alerts[#alerts + 1] = i - 1 end
    end
  end
end
return table.concat(alerts, ',')
"""

PEEK = _UNPACK + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wins = unpack_spec(ARGV[1])[1]
local out = {}
for i = 1, #KEYS do
  local k, win = KEYS[i], tonumber(wins[i])
  local sum = 0
  if win > 0 then
    sum = window_sum(k, win, now)
  elseif redis.call('EXISTS', k) == 1 then
    sum = tonumber(redis.call('HGET', k, 'spent') or '0')
        + tonumber(redis.call('HGET', k, 'reserved') or '0')
  end
  out[#out + 1] = string.format('%d', sum)
end
return table.concat(out, ',')
"""

SEED = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'spent', ARGV[1])
  if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
return 1
"""


def connect(url: str, timeout_s: float, max_connections: int = 64) -> Any:
    """A Redis client for the ledger: short socket time-outs, and a pool that makes a
    burst wait its turn for a connection (up to ``timeout_s``) instead of failing.

    A command that meets a dead connection (a pooled socket whose Redis restarted) is
    tried once more on a fresh one, so a restart costs no refusals once Redis answers.
    A time-out is not retried: a slow Redis must cost one short wait, not two."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout_s,
        socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1), retry_on_error=[RedisConnectionError, ConnectionError])
    return redis.asyncio.Redis(connection_pool=pool)


class LedgerUnavailable(Exception):
    """The shared ledger could not answer in time (Redis down, slow or refusing).
    ``timeout`` tells a slow answer from a refused or broken connection."""

    def __init__(self, why: str, timeout: bool = False) -> None:
        super().__init__(why)
        self.timeout = timeout


def _settle_spec(charges: list[Charge], actual: list[int]) -> str:
    return "|".join(f"{c.window_ms},{c.amount},{real},{c.alert_at},{c.ttl_ms}"
                    for c, real in zip(charges, actual, strict=True))


def _key(prefix: str, c: Charge) -> str:
    return f"{prefix}{c.key}:{c.period}" if c.period else prefix + c.key


class RedisLedger:
    """:class:`~bastion.traffic.ledger.Ledger` over a ``redis.asyncio.Redis`` client."""

    def __init__(self, redis: Any, prefix: str, timeout_s: float = 0.25) -> None:
        self.redis = redis
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._reserve = redis.register_script(RESERVE)
        self._settle = redis.register_script(SETTLE)
        self._seed = redis.register_script(SEED)
        self._peek = redis.register_script(PEEK)

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self.timeout_s):
                return await script(keys=keys, args=args)
        except TimeoutError:
            raise LedgerUnavailable("TimeoutError", timeout=True) from None
        except (RedisError, OSError) as e:
            from redis.exceptions import TimeoutError as RedisTimeout

            raise LedgerUnavailable(type(e).__name__,
                                    timeout=isinstance(e, RedisTimeout)) from None

    async def reserve(self, charges: list[Charge], rid: str, hold_s: float) -> Verdict:
        hold_ms = max(1, round(hold_s * 1000))
        spec = "|".join(f"{c.window_ms},{c.limit},{c.amount},{c.ttl_ms},"
                        f"{1 if c.seed_key_id else 0}" for c in charges)
        raw = await self._run(self._reserve, [_key(self.prefix, c) for c in charges],
                              [rid, hold_ms, spec])
        res = [int(x) for x in raw.split(b",")]
        status, failed, retry_ms = res[0], res[1] - 1, res[2]
        if status == 1:
            return Verdict(True, remaining=res[3::2], reset_ms=res[4::2])
        retry = retry_ms / 1000 if retry_ms >= 0 else None
        return Verdict(False, failed, retry, need_seed=status == -1)

    async def settle(self, charges: list[Charge], rid: str, actual: list[int]) -> list[int]:
        raw = await self._run(self._settle, [_key(self.prefix, c) for c in charges],
                              [rid, _settle_spec(charges, actual)])
        return [int(x) for x in raw.split(b",") if x]

    async def settle_many(self, items: list[tuple[list[Charge], str, list[int]]]
                          ) -> list[list[int]]:
        """Several settlements in one round trip (a pipeline of script calls)."""
        from redis.exceptions import RedisError

        pipe = self.redis.pipeline(transaction=False)
        for charges, rid, actual in items:
            await self._settle(keys=[_key(self.prefix, c) for c in charges],
                               args=[rid, _settle_spec(charges, actual)], client=pipe)
        try:
            async with asyncio.timeout(self.timeout_s):
                res = await pipe.execute()
        except TimeoutError:
            raise LedgerUnavailable("TimeoutError", timeout=True) from None
        except (RedisError, OSError) as e:
            raise LedgerUnavailable(type(e).__name__) from None
        return [[int(x) for x in r.split(b",") if x] for r in res]

    async def peek(self, charges: list[Charge]) -> list[int]:
        """What each counter holds now (see ``MemoryLedger.peek_now``), in one call."""
        raw = await self._run(self._peek, [_key(self.prefix, c) for c in charges],
                              [",".join(str(c.window_ms) for c in charges)])
        return [int(x) for x in raw.split(b",")]

    async def seed(self, charge: Charge, spent: int) -> None:
        await self._run(self._seed, [_key(self.prefix, charge)], [spent, charge.ttl_ms])

    async def ping(self) -> None:
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self.timeout_s):
                await self.redis.ping()
        except (TimeoutError, RedisError, OSError) as e:
            raise LedgerUnavailable(type(e).__name__) from None
