"""Config generations: what one configuration builds, and what outlives a reload.

A :class:`Generation` holds everything built from one :class:`Settings`: the
providers, the callers' authenticators (keys, ``auth.jwt``), the route, the
pipeline, the admin key and the start/stop hooks the parts registered. The gateway
keeps the current one in one attribute (``Gateway.generation``); a reload builds
the next one beside it, starts it, and swaps that attribute, so a request uses the
generation it found when it started from its first step to its last chunk. The old
generation is closed once every request it could still be serving is over (its
longest time-out, see :func:`grace_s`).

:class:`Lasting` holds the objects successive generations share when the
settings they depend on did not change: a provider whose settings are the same
(its connection pool and tokens stay warm), the circuit breakers, the in-memory
rate-limit counters, the routing statistics, the response cache and the semantic
cache's local model and memory index. Each is made once under a key that
names what it was built from, and closed when the last generation using it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bastion.config.settings import Settings

if TYPE_CHECKING:
    from bastion.config.secrets import SecretSource
    from bastion.core.pipeline import Pipeline
    from bastion.identity.callers import Callers
    from bastion.privacy.build import PrivacyParts
    from bastion.providers.base import Provider
    from bastion.providers.registry import Refreshable
    from bastion.review.service import Reviews
    from bastion.steps.route import Route

T = TypeVar("T")
Closer = Callable[[], Awaitable[None]]
MAX_GRACE_S = 900.0
GRACE_MARGIN_S = 5.0


@dataclass(eq=False)
class Generation:
    """The parts built from one configuration (see the module docstring)."""

    settings: Settings
    number: int
    providers: dict[str, Provider] = field(default_factory=dict)
    secrets: list[Refreshable] = field(default_factory=list)
    master_key: SecretSource | None = None
    on_start: list[Closer] = field(default_factory=list)
    on_close: list[Closer] = field(default_factory=list)
    callers: Callers = field(init=False)  # who is calling: virtual keys, caller JWTs
    reviews: Reviews = field(init=False)  # per-alias review policies over the review queue
    privacy: PrivacyParts = field(init=False)  # detection policies, compliance rules, subjects
    privacy_loading: Any = None  # the name model's loading, when an alias needs it
    route: Route = field(init=False)
    pipeline: Pipeline = field(init=False)

    async def start(self) -> None:
        for hook in self.on_start:
            await hook()

    async def close(self, lasting: Lasting) -> None:
        """Run the parts' stop hooks (last registered first), then let go of shared objects."""
        for hook in reversed(self.on_close):
            await hook()
        await lasting.release(self.number)


def grace_s(settings: Settings) -> float:
    """How long a request started on ``settings`` can still run: the longest total
    time-out plus the longest wait for provider capacity, with a margin."""
    longest = max((a.timeout_ms.total + a.traffic.queue_timeout_ms
                   for a in settings.models.values()), default=0)
    return min(MAX_GRACE_S, longest / 1000 + GRACE_MARGIN_S)


@dataclass(eq=False)
class _Item:
    value: Any
    close: Callable[[Any], Awaitable[None]] | None
    users: set[int] = field(default_factory=set)


class Lasting:
    """Objects shared across generations, by key (see the module docstring)."""

    def __init__(self) -> None:
        self._items: dict[Hashable, _Item] = {}

    def get(self, generation: int, key: Hashable, make: Callable[[], T],
            close: Callable[[T], Awaitable[None]] | None = None) -> T:
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = _Item(make(), close)
        item.users.add(generation)
        value: T = item.value
        return value

    async def release(self, generation: int) -> None:
        """``generation`` is done; close what no other generation uses."""
        for key, item in list(self._items.items()):
            item.users.discard(generation)
            if not item.users:
                del self._items[key]
                if item.close is not None:
                    await item.close(item.value)

    def __len__(self) -> int:
        return len(self._items)
