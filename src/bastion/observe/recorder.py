"""The end of every request: a usage row, one log line and metrics.

Usage rows go to :class:`~bastion.observe.usage_writer.UsageWriter`, which writes
them in batches from a background task and keeps them through database outages,
so the request path never waits for (or touches) the database or the disk.
Each row records the request's outcome: served, refused by the gateway, failed
upstream, cancelled by the client or cut by the server (see
:data:`~bastion.stores.base.OUTCOMES`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from bastion.config.usage_settings import UsageSettings
from bastion.core.context import Context
from bastion.core.drain import CUT
from bastion.core.errors import GatewayError
from bastion.observe.logging import emit, get_logger
from bastion.observe.metrics import Metrics
from bastion.observe.usage_spill import SpillFile
from bastion.observe.usage_writer import UsageWriter
from bastion.steps.billing import UPSTREAM
from bastion.stores.base import Database, UsageRow

_DECISIONS_MAX = 2000  # bytes of JSON per usage row; past it only the names are kept
_encode = msgspec.json.Encoder().encode


def decisions_json(decisions: dict[str, Any]) -> str | None:
    """A request's decisions for its usage row (the same the log line holds: labels,
    counts and flags, never text), bounded in size."""
    if not decisions:
        return None
    try:
        raw = _encode(decisions)
    except (TypeError, msgspec.EncodeError):
        raw = _encode({k: True for k in decisions})
    if len(raw) > _DECISIONS_MAX:
        raw = _encode({k: True for k in list(decisions)[:50]})
    return raw.decode()


def outcome_of(ctx: Context, err: GatewayError | None) -> str:
    """What became of the request (see :data:`~bastion.stores.base.OUTCOMES`)."""
    if ctx.decisions.get(CUT):
        return "cut"
    if ctx.status == 499:
        return "cancelled"
    if (err is None or err.status < 400) and ctx.status < 400:  # a 202 review hold: served
        return "served"
    if UPSTREAM in ctx.state or ctx.status >= 500:
        return "failed"
    return "refused"


@dataclass(slots=True, frozen=True)
class _Series:
    requests: Any
    latency: Any
    prompt_tokens: Any
    completion_tokens: Any
    cached_tokens: Any
    cost: Any


class Recorder:
    def __init__(self, db: Database | None, metrics: Metrics,
                 aliases: frozenset[str] = frozenset(),
                 usage: UsageSettings | None = None) -> None:
        self.db = db
        self.metrics = metrics
        self.aliases = aliases
        self._series_cache: dict[tuple[str, str, int, str], _Series] = {}
        # alias -> [prompt tokens, of which read from the provider's prompt cache]
        self._prompt_cache: dict[str, list[int]] = {}
        self.log = get_logger("bastion.request")
        # unique across processes and restarts: a random prefix per process, a counter
        self._row_prefix = os.urandom(8).hex()
        self._row_seq = itertools.count()
        u = usage or UsageSettings()
        spill = (SpillFile(u.spill_dir, int(u.spill_max_mb * 1024 * 1024))
                 if u.spill_dir else None)
        self.writer = (UsageWriter(db, metrics, spill, queue_max=u.queue_max_rows,
                                   retry_max_s=u.retry_max_s) if db is not None else None)

    def start(self) -> None:
        if self.writer is not None:
            self.writer.start()

    async def close(self, timeout_s: float = 3.0) -> None:
        if self.writer is not None:
            await self.writer.close(timeout_s)

    async def flush(self) -> None:
        """Write every queued row now (tests, reports and shutdown)."""
        if self.writer is not None:
            await self.writer.flush()

    def _series(self, alias: str, target: str, status: int, code: str) -> _Series:
        """The metric children for one label set, looked up once and kept.

        The alias a client names is used only when it is configured ("other" if not), so
        the number of series is bounded by the configuration, never by traffic.
        """
        key = (alias, target, status, code)
        series = self._series_cache.get(key)
        if series is None:
            label = alias if alias in self.aliases else "other"
            m = self.metrics
            series = _Series(
                m.requests.labels(label, target, str(status), code),
                m.latency.labels(label, target),
                m.tokens.labels(label, target, "prompt"),
                m.tokens.labels(label, target, "completion"),
                m.tokens.labels(label, target, "cached"),
                m.cost.labels(label, target),
            )
            if alias in self.aliases:
                self._series_cache[key] = series
        return series

    def finish(self, ctx: Context, err: GatewayError | None) -> None:
        elapsed = time.monotonic() - ctx.started
        ident = ctx.identity
        usage = ctx.usage
        pt = usage.prompt_tokens if usage else 0
        ct = usage.completion_tokens if usage else 0
        target = ctx.target or ""
        latency_ms = round(elapsed * 1000, 2)
        key_id = ident.key_id if ident is not None else None
        user = ident.user if ident is not None else None
        outcome = outcome_of(ctx, err)
        if self.writer is not None and ident is not None:
            self.writer.add(UsageRow(
                ts=time.time(), request_id=ctx.request_id, key_id=key_id, user=user,
                team=ident.team, alias=ctx.alias, target=ctx.target, status=ctx.status,
                prompt_tokens=pt, completion_tokens=ct, cost_usd=ctx.cost_usd,
                latency_ms=latency_ms, error_code=ctx.error_code,
                cached=ctx.decisions.get("cache") == "hit",
                degraded=ctx.decisions.get("degraded"), outcome=outcome,
                row_id=f"{self._row_prefix}{next(self._row_seq):x}",
                arm=ctx.decisions.get("arm"),
                decisions=decisions_json(ctx.decisions),
            ))
        series = self._series(ctx.alias, target, ctx.status, ctx.error_code or "")
        series.requests.inc()
        series.latency.observe(elapsed)
        if pt or ct:
            series.prompt_tokens.inc(pt)
            series.completion_tokens.inc(ct)
            if pt and ctx.alias in self.aliases:
                self._cached_share(ctx.alias, pt, usage, series)
        if ctx.cost_usd:
            series.cost.inc(ctx.cost_usd)
        fields: dict[str, Any] = {
            "request_id": ctx.request_id, "key_id": key_id, "user": user,
            "alias": ctx.alias, "target": ctx.target, "dialect": ctx.dialect,
            "stream": ctx.stream, "status": ctx.status, "latency_ms": latency_ms,
            "prompt_tokens": pt, "completion_tokens": ct, "cost_usd": round(ctx.cost_usd, 8),
            "outcome": outcome,
        }
        if ctx.error_code:
            fields["error_code"] = ctx.error_code
        if ctx.decisions:
            fields["decisions"] = ctx.decisions
        level = err.log_level if err is not None else 20
        with contextlib.suppress(ValueError):  # a closed stream at shutdown
            emit(self.log, level, "request", fields)

    def _cached_share(self, alias: str, prompt: int, usage: Any, series: _Series) -> None:
        """Count the prompt tokens the provider read from its prompt cache (OpenAI
        ``cached_tokens``, Anthropic ``cache_read_input_tokens``, Gemini
        ``cachedContentTokenCount``, all in ``prompt_tokens_details.cached_tokens``)."""
        details = usage.prompt_tokens_details
        cached = int(details.get("cached_tokens") or 0) if details else 0
        if cached:
            series.cached_tokens.inc(cached)
        totals = self._prompt_cache.get(alias)
        if totals is None:
            totals = self._prompt_cache[alias] = [0, 0]
        totals[0] += prompt
        totals[1] += cached
        self.metrics.cached_share.labels(alias).set(totals[1] / totals[0])

    def route_line(self, request_id: str, method: str, path: str, status: int,
                   elapsed_s: float, error_code: str | None = None) -> None:
        """The log line and metrics of a request that did not go down the pipeline
        (unknown routes, moderations): method, path (query string and body never), status."""
        series = self._series("", "", status, error_code or "")
        series.requests.inc()
        series.latency.observe(elapsed_s)
        fields: dict[str, Any] = {"request_id": request_id, "method": method,
                                  "path": path[:200], "status": status,
                                  "latency_ms": round(elapsed_s * 1000, 2)}
        if error_code:
            fields["error_code"] = error_code
        with contextlib.suppress(ValueError):  # a closed stream at shutdown
            emit(self.log, 20 if status < 500 else 40, "request", fields)
