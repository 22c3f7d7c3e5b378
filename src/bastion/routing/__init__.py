"""Routing: which of an alias's targets gets a request first, and in what order the
others are tried when it fails (``models.X.routing``, ``sticky``, ``experiment``).

Parts, each behind the one small :class:`~bastion.routing.base.Strategy` protocol
(``rank(ctx, targets) -> Ranked``) or feeding it:

* :mod:`~bastion.routing.strategies`: ``ordered``, ``weighted`` (smooth weighted
  round robin), ``least_busy`` (fewest in flight), ``latency`` (lowest recent time to
  first byte, a little exploration);
* :mod:`~bastion.routing.headroom`: ``headroom`` (most capacity left in the current
  window, read from traffic control, shared through Redis when set);
* :mod:`~bastion.routing.sticky`: keeps a user or a conversation on one target by
  weighted rendezvous hashing (no state, the same answer on every replica);
* :mod:`~bastion.routing.experiment`: records the A/B arm of each request;
* :mod:`~bastion.routing.needs`: which targets can serve the request (capabilities);
* :mod:`~bastion.routing.stats`: in-flight counts and time to first byte per target;
* :mod:`~bastion.routing.router`: the per-alias composition the route step asks once
  per request, which records the decision (log line, span, metrics).

Strategies combine by wrapping: ``Experiment(Sticky(Weighted(...)))``. None of them
sees the breakers: the route skips a target whose breaker is open and goes on in the
strategy's order, so a sticky conversation moves while its target is down.
"""

from bastion.routing.base import SPILL_STATE, Ranked, Strategy
from bastion.routing.router import Router, build_router

__all__ = ["SPILL_STATE", "Ranked", "Router", "Strategy", "build_router"]
