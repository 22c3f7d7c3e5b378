"""Traffic control: provider capacity, client limits, budgets, the capacity queue.

Parts, each behind one small interface:

* :mod:`~bastion.traffic.tokens` counts prompt tokens (exact for OpenAI models);
* :mod:`~bastion.traffic.ledger` / :mod:`~bastion.traffic.ledger_redis` reserve
  several counters atomically and settle them (memory; Redis with Lua);
  :mod:`~bastion.traffic.shared` picks between them and survives Redis outages;
* :mod:`~bastion.traffic.clients` turns a key, its user and its team into charges;
* :mod:`~bastion.traffic.tiers` reads provider capacity (config and tier presets);
* :mod:`~bastion.traffic.queue` / :mod:`~bastion.traffic.gate` hold requests over
  provider capacity in a bounded priority queue with a deadline;
* :mod:`~bastion.traffic.headroom` tells routing how much capacity each target has left;
* :mod:`~bastion.traffic.admit` is the pipeline step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.core.pipeline import Step

if TYPE_CHECKING:
    from bastion.app import Gateway
    from bastion.traffic.gate import CapacityGate
    from bastion.traffic.ledger_redis import RedisLedger
    from bastion.traffic.ledger_socket import SocketLedger


def build_gate(gw: Gateway) -> tuple[CapacityGate, Step]:
    """The capacity gate and the admit step for ``gw``'s settings."""
    from bastion.traffic.admit import Admit
    from bastion.traffic.alerts import BudgetAlerts
    from bastion.traffic.clients import ClientPlan
    from bastion.traffic.gate import CapacityGate
    from bastion.traffic.ledger import MemoryLedger
    from bastion.traffic.ledger_redis import RedisLedger, connect
    from bastion.traffic.ledger_socket import LEDGER_SOCKET_ENV, SocketLedger
    from bastion.traffic.shared import SharedLedger
    from bastion.traffic.tiers import capacities
    from bastion.traffic.tokens import TokenCounter

    s = gw.settings.traffic
    fail = s.on_redis_error
    # Its own client (same URL as gw.redis): short time-outs and a pool that queues a
    # burst instead of failing it; see ledger_redis.connect.
    url = gw.settings.state.redis
    client = connect(url, fail.timeout_ms / 1000) if url else None
    remote: RedisLedger | SocketLedger | None = (
        RedisLedger(client, s.redis_prefix, fail.timeout_ms / 1000)
        if client is not None else None)
    replicas = gw.settings.state.replicas
    socket_path = gw.env.get(LEDGER_SOCKET_ENV)
    if remote is None and socket_path:
        # workers of one `bastion serve --workers N` without Redis: one ledger process
        remote = SocketLedger(socket_path, fail.timeout_ms / 1000)
        replicas *= gw.settings.server.workers  # the share each keeps if it is down
    # The in-process counters outlive config reloads (see bastion.generation).
    local = gw.lasting_part(("traffic.memory_ledger",), MemoryLedger)
    ledger = SharedLedger(remote, local, replicas,
                          budgets=fail.budgets, rate_limits=fail.rate_limits,
                          retry_s=fail.retry_s)
    counter = TokenCounter(s.estimate_over_chars)
    gate = CapacityGate(capacities(gw.settings), ledger, gw.metrics, counter, s.window_s,
                        s.hold_s, s.queue.max_depth, s.queue.poll_ms / 1000,
                        s.default_output_tokens)
    alerts = BudgetAlerts(s.alerts.webhook_url, s.alerts.webhook_timeout_ms / 1000)
    # The route step admits each attempt itself when it offers the hook; else the admit
    # step admits on the alias's primary target.
    route: Any = gw.route  # ``Route.capacity`` is the hook (see bastion.traffic.gate)
    in_route = hasattr(route, "capacity")
    if in_route:
        route.capacity = gate.admit
    if hasattr(route, "router"):  # routing: headroom reads what the gate counts
        from bastion.traffic.headroom import GateHeadroom

        headroom = GateHeadroom(gate)
        gate.on_reserve = headroom.learn
        route.router.use_headroom(headroom, gate.limited)
    step = Admit(gw, ClientPlan(s), ledger, gate, counter, alerts, gate_in_route=in_route)

    async def start() -> None:
        await counter.prewarm(step.methods() | gate.methods)

    async def close() -> None:
        await gate.aclose()
        await ledger.aclose()
        await alerts.aclose()
        if client is not None:
            await client.aclose()
        if isinstance(remote, SocketLedger):
            await remote.aclose()

    gw.on_start.append(start)
    gw.on_close.append(close)
    return gate, step


def build_steps(gw: Gateway) -> list[Step]:
    """The admit step for ``gw``'s settings (placed after authenticate)."""
    if not gw.settings.traffic.enabled:
        return []
    return [build_gate(gw)[1]]
