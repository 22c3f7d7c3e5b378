"""Fitting a conversation into a prompt token budget: which of its oldest turns to drop.

:func:`plan` counts the prompt the way each of the alias's targets counts it
(:func:`bastion.traffic.tokens.chat_counts`: exact for OpenAI models, a generous
estimate otherwise; a message costs the most any target counts for it) and, when the
total is over the budget, drops whole turns, oldest first, until it fits. What is
never dropped:

* a system (or developer) message, wherever it stands;
* the last user message and everything after it (the turn being answered, with its
  tool calls and results);
* a tool call apart from its result: a turn runs from one user message to the next,
  and turns that a call and its result would straddle are one unit (a unit whose call
  is answered in the kept part is never dropped, nor is anything after it).

A turn is dropped whole, so the conversation still starts with a user message after
its system prompt (which Anthropic requires). When even dropping every turn it may
drop does not fit, the plan says so (``fits`` false) and the request goes out with
what is left: refusing is not this part's call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from bastion.core.types import ChatRequest, Message
from bastion.traffic.tokens import chat_counts

#: How a trimmed request is recorded (bounded: a metric label).
MODES = ("dropped", "summarized", "over_budget")
_SYSTEM = ("system", "developer")


@dataclass(slots=True, frozen=True)
class TrimPlan:
    total: int  # prompt tokens before (the most any counting method gives)
    system: int  # tokens of the system and developer messages
    dropped: tuple[int, ...]  # indices of the messages to drop, in order
    kept: dict[str, int]  # counting method -> prompt tokens after the drop
    fits: bool  # whether what is kept is within the budget (less the reserve)

    @property
    def kept_total(self) -> int:
        return max(self.kept.values())


def _function_result_call(messages: Sequence[Message], j: int) -> int | None:
    """The assistant message a legacy ``function`` result answers: the closest before it."""
    for i in range(j - 1, -1, -1):
        if messages[i].role == "assistant" and messages[i].function_call is not None:
            return i
    return None


def units(messages: Sequence[Message]) -> list[tuple[int, int]]:
    """The droppable units, oldest first, as ``[start, end)`` ranges of message indices:
    the turns before the last user message, merged where a tool call and its result
    would fall apart, and cut before the first unit that must stay."""
    last_user = next((i for i in range(len(messages) - 1, -1, -1)
                      if messages[i].role == "user"), None)
    if last_user is None:
        return []
    first_user = next(i for i, m in enumerate(messages) if m.role == "user")
    if first_user == last_user:
        return []
    # what comes before the first user message belongs to the first turn
    starts = [0, *(i for i in range(first_user + 1, last_user) if messages[i].role == "user")]
    call_at: dict[str, int] = {}
    for i, m in enumerate(messages):
        for tc in m.tool_calls or ():
            if tc.id:
                call_at[tc.id] = i
    pairs: list[tuple[int, int]] = []  # (call index, result index)
    for j, m in enumerate(messages):
        call = call_at.get(m.tool_call_id or "") if m.role == "tool" else None
        if call is not None:
            pairs.append((call, j))
        elif m.role == "function":
            caller = _function_result_call(messages, j)
            if caller is not None:
                pairs.append((caller, j))
    # a boundary between a call and its result is no boundary
    bounds = [b for b in starts[1:] if not any(i < b <= j for i, j in pairs)]
    edges = [0, *bounds, last_user]
    out = list(pairwise(edges))
    # a call answered in the kept part pins its unit and every later one
    pinned = [i for i, j in pairs if i < last_user <= j]
    if pinned:
        first = min(pinned)
        out = [(s, e) for s, e in out if e <= first]
    return out


def plan(req: ChatRequest, methods: tuple[str, ...], budget: int, reserve: int = 0) -> TrimPlan:
    """What to drop from ``req`` so its prompt fits ``budget`` less ``reserve`` tokens
    (room kept for a summary), counted by each of ``methods``."""
    counts = {m: chat_counts(req, m) for m in methods}
    msgs = req.messages
    per = [max(counts[m][1][i] for m in methods) for i in range(len(msgs))]
    base = max(counts[m][0] for m in methods)
    total = base + sum(per)
    system = sum(n for n, m in zip(per, msgs, strict=True) if m.role in _SYSTEM)
    target = budget - reserve
    dropped: list[int] = []
    if total > budget:
        current = total
        for start, end in units(msgs):
            if current <= target:
                break
            for i in range(start, end):
                if msgs[i].role not in _SYSTEM:
                    dropped.append(i)
                    current -= per[i]
    gone = set(dropped)
    kept = {m: counts[m][0] + sum(n for i, n in enumerate(counts[m][1]) if i not in gone)
            for m in methods}
    limit = target if dropped else budget
    return TrimPlan(total, system, tuple(dropped), kept, max(kept.values()) <= limit)
