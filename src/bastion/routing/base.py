"""The routing protocol: one strategy ranks the candidate targets of one request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bastion.core.context import Context
    from bastion.steps.route import Target

# ``ctx.state`` flag the route sets around an attempt when its strategy prefers the next
# target to a wait for capacity on this one (``headroom``); the capacity gate then takes
# room at once or refuses at once (``RateLimited``), and the route tries the next target.
SPILL_STATE = "routing.spill"


@dataclass(slots=True, frozen=True)
class Ranked:
    """Every candidate, best first, and why the first one is first (for people: the
    request's log line and span)."""

    targets: Sequence[Target]
    why: str


class Strategy(Protocol):
    """Orders an alias's candidate targets for one request.

    ``targets`` holds only targets that may serve the request (compliance and
    capabilities already applied), at least one, in config order. ``rank`` returns all
    of them: the first is tried first and the rest are the fallback order. It keeps no
    per-request state on ``self``; shared counters (weights' credit, in-flight counts)
    change only between awaits. ``spill``: when the first target has no capacity free
    now, try the next one instead of waiting in its queue."""

    name: str
    spill: bool

    async def rank(self, ctx: Context, targets: Sequence[Target]) -> Ranked: ...


def only(targets: Sequence[Target]) -> Ranked | None:
    """The answer when there is nothing to choose."""
    return Ranked(targets, "only candidate") if len(targets) == 1 else None
