"""The step protocol and the runner that chains steps in one list.

A step is one async callable, configured once, holding no per-request state::

    async def __call__(self, ctx: Context, call_next: Next) -> Reply

It acts on the way down before ``await call_next(ctx)`` and on the way back
after it; it stops the chain by raising a :class:`GatewayError` or by returning
a :class:`Reply` without calling ``call_next``. The request goes down the list
in order and the answer comes back up in reverse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bastion.core.context import Context, Reply

Next = Callable[[Context], Awaitable[Reply]]


class Step(Protocol):
    """One stage of the request's path (see the module docstring)."""

    async def __call__(self, ctx: Context, call_next: Next) -> Reply: ...


def _bind(step: Step, call_next: Next) -> Next:
    async def handler(ctx: Context) -> Reply:
        return await step(ctx, call_next)

    handler.__qualname__ = f"{type(step).__name__}.bound"
    return handler


class Pipeline:
    """Chains ``steps`` (outermost first) in front of ``terminal``, once, at build time."""

    def __init__(self, steps: Sequence[Step], terminal: Next) -> None:
        self.steps = tuple(steps)
        handler = terminal
        for step in reversed(self.steps):
            handler = _bind(step, handler)
        self._handler = handler

    async def __call__(self, ctx: Context) -> Reply:
        return await self._handler(ctx)
