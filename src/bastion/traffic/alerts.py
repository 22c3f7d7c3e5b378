"""Soft budget alerts: a ``budget_alert`` log event and an optional webhook POST.

The ledger reports a quota once per period when its spend crosses
``traffic.alerts.fraction`` of the limit (a Redis ``HSETNX`` makes that once
across replicas). The webhook gets a small JSON event and never a key, a
prompt or the webhook URL itself in any log line.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from bastion.observe.logging import get_logger
from bastion.traffic.ledger import NANO, Charge

_log = get_logger("bastion.traffic")
_MAX_PENDING = 64


def _describe(c: Charge) -> dict[str, Any]:
    scope, _, rest = c.key.partition(":")
    ident, _, kind = rest.rpartition(":")
    unit_usd = c.unit == "nano_usd"
    return {
        "scope": {"k": "key", "u": "user", "t": "team"}.get(scope, scope),
        "id": ident, "limit": kind, "period": c.period or "lifetime",
        "threshold": c.alert_at / NANO if unit_usd else c.alert_at,
        "budget": c.limit / NANO if unit_usd else c.limit,
        "unit": "usd" if unit_usd else "tokens",
    }


class BudgetAlerts:
    """Fires alerts for crossed quotas (see the module docstring)."""

    def __init__(self, webhook_url: str | None, timeout_s: float) -> None:
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def __call__(self, charge: Charge) -> None:
        event = _describe(charge)
        _log.warning("budget_alert", **event)
        if self.webhook_url is None or len(self._pending) >= _MAX_PENDING:
            return
        task = asyncio.get_running_loop().create_task(self._post(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, event: dict[str, Any]) -> None:
        assert self.webhook_url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        body = {"event": "budget_alert", "ts": time.time(), **event}
        try:
            async with self._session.post(self.webhook_url, json=body) as resp:
                if resp.status >= 300:
                    _log.warning("budget_alert_webhook_failed", status=resp.status)
        except (aiohttp.ClientError, TimeoutError) as e:
            _log.warning("budget_alert_webhook_failed", error=type(e).__name__)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
