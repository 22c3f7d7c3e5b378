"""The end of every request: a usage row, one log line and metrics.

Usage rows are written in batches by a background task, so the request path
never waits for the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from bastion.core.context import Context
from bastion.core.errors import GatewayError
from bastion.observe.logging import emit, get_logger
from bastion.observe.metrics import Metrics
from bastion.stores.base import Database, UsageRow

_QUEUE_MAX = 100_000
_BATCH = 500


@dataclass(slots=True, frozen=True)
class _Series:
    requests: Any
    latency: Any
    prompt_tokens: Any
    completion_tokens: Any
    cost: Any


class Recorder:
    def __init__(self, db: Database | None, metrics: Metrics,
                 aliases: frozenset[str] = frozenset()) -> None:
        self.db = db
        self.metrics = metrics
        self.aliases = aliases
        self._series_cache: dict[tuple[str, str, int, str], _Series] = {}
        self.log = get_logger("bastion.request")
        self._rows: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self.db is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._writer())

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def flush(self) -> None:
        """Write every queued row now (tests and shutdown)."""
        if self.db is not None and self._rows:
            rows, self._rows = self._rows, []
            await self.db.record_usage(rows)

    async def _writer(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0.05)  # gather a batch
            while self._rows:
                rows, self._rows = self._rows[:_BATCH], self._rows[_BATCH:]
                assert self.db is not None
                try:
                    await self.db.record_usage(rows)
                except Exception as e:  # noqa: BLE001 - the writer must survive a bad batch
                    self.log.error("usage_write_failed", error=type(e).__name__, rows=len(rows))
        await self.flush()

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
        if self.db is not None and ident is not None:
            if len(self._rows) < _QUEUE_MAX:
                self._rows.append(UsageRow(
                    ts=time.time(), request_id=ctx.request_id, key_id=key_id, user=user,
                    team=ident.team, alias=ctx.alias, target=ctx.target, status=ctx.status,
                    prompt_tokens=pt, completion_tokens=ct, cost_usd=ctx.cost_usd,
                    latency_ms=latency_ms, error_code=ctx.error_code,
                    cached=ctx.decisions.get("cache") == "hit",
                    degraded=ctx.decisions.get("degraded"),
                ))
                self._wake.set()
            else:
                self.metrics.usage_dropped.inc()
        series = self._series(ctx.alias, target, ctx.status, ctx.error_code or "")
        series.requests.inc()
        series.latency.observe(elapsed)
        if pt or ct:
            series.prompt_tokens.inc(pt)
            series.completion_tokens.inc(ct)
        if ctx.cost_usd:
            series.cost.inc(ctx.cost_usd)
        fields: dict[str, Any] = {
            "request_id": ctx.request_id, "key_id": key_id, "user": user,
            "alias": ctx.alias, "target": ctx.target, "dialect": ctx.dialect,
            "stream": ctx.stream, "status": ctx.status, "latency_ms": latency_ms,
            "prompt_tokens": pt, "completion_tokens": ct, "cost_usd": round(ctx.cost_usd, 8),
        }
        if ctx.error_code:
            fields["error_code"] = ctx.error_code
        if ctx.decisions:
            fields["decisions"] = ctx.decisions
        level = err.log_level if err is not None else 20
        with contextlib.suppress(ValueError):  # a closed stream at shutdown
            emit(self.log, level, "request", fields)

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
