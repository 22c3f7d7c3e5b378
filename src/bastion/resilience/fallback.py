"""The end of the fallback chain: which targets may be tried, and the degraded answers.

Two hooks other parts fill in:

**Stale answers (stale-if-error), for the cache part.** When every target failed,
the route asks for a stale answer before it falls back to a local model or a
static message. A cache provides one in either (or both) of two ways:

* register a :class:`StaleSource` once at build time::

      gw.route.add_stale_source(my_cache)   # in bastion.cache.build_steps(gw)

  ``await source.stale_answer(ctx)`` is called **only** when every target failed
  (never on the happy path), for chat requests of an alias whose
  ``models.X.resilience.degrade`` lists ``cache``. Return the expired-but-kept
  :class:`ChatResponse` for this request (scoped to the tenant like any cache hit),
  or ``None``. Raise nothing: a store failure is ``None`` (the route then goes on
  to the next degraded answer). It is awaited under the request's deadline.

* or, when the cache step already holds an expired entry on its way down, leave
  it in ``ctx.state[STALE_STATE_KEY]`` (a :class:`ChatResponse`); the route serves
  it on failure without calling any source.

A stale answer is served with ``x-bastion-degraded: cache`` and
``ctx.decisions["degraded"] = "cache"``; the route never stores it back (the cache
step sees the ``degraded`` decision and must not re-store a degraded answer).

**Compliance, for the privacy part.** :data:`CompliancePredicate` decides whether
a target may receive this request (``ctx.data_classes``, e.g. ``{"phi"}``). The
default, :func:`default_compliance`, requires a BAA for ``phi`` and an EU region
for ``eu_personal``; the privacy part may replace it with ``gw.route.compliance =
fn``. A target that fails it is skipped; when every target fails it, the request
is refused with ``no_compliant_provider``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bastion.core.context import Context, Reply
from bastion.core.types import ChatResponse, Choice, Message, Usage

if TYPE_CHECKING:
    from bastion.steps.route import Target

STALE_STATE_KEY = "stale"
DEGRADED_HEADER = "x-bastion-degraded"


@runtime_checkable
class StaleSource(Protocol):
    """Gives an expired cached answer for ``ctx`` when every target failed (see above)."""

    async def stale_answer(self, ctx: Context) -> ChatResponse | None: ...


CompliancePredicate = Callable[[Context, "Target"], bool]


def default_compliance(ctx: Context, target: Target) -> bool:
    """``phi`` needs ``compliance.baa``; ``eu_personal`` needs ``eu`` among the regions."""
    classes = ctx.data_classes
    if not classes:
        return True
    c = target.compliance
    if "phi" in classes and not c.baa:
        return False
    return not ("eu_personal" in classes and "eu" not in (r.lower() for r in c.regions))


def degraded_reply(ctx: Context, resp: ChatResponse, mode: str) -> Reply:
    """Serve ``resp`` as a degraded answer (``x-bastion-degraded: mode``), whole or streamed."""
    ctx.decisions["degraded"] = mode
    headers = {DEGRADED_HEADER: mode}
    if not ctx.stream:
        return Reply(response=resp, headers=headers)
    from bastion.api.replay import replay_as_stream

    return Reply(stream=replay_as_stream(resp), headers=headers)


def static_response(ctx: Context, message: str) -> ChatResponse:
    """The configured static message as a chat answer. ``{alias}`` and ``{request_id}``
    in the message are filled in (a template); other braces are left alone."""
    text = message.replace("{alias}", ctx.alias).replace("{request_id}", ctx.request_id)
    return ChatResponse(
        id=f"chatcmpl-degraded-{ctx.request_id}", model=ctx.alias, created=int(time.time()),
        choices=[Choice(message=Message(role="assistant", content=text), finish_reason="stop")],
        usage=Usage(),
    )


async def find_stale(ctx: Context, sources: list[StaleSource]) -> ChatResponse | None:
    """The stale answer left in ``ctx.state`` or given by the first source that has one."""
    held = ctx.state.get(STALE_STATE_KEY)
    if isinstance(held, ChatResponse):
        return held
    for source in sources:
        found = await source.stale_answer(ctx)
        if found is not None:
            return found
    return None
