"""The server-side system prompt attached to a request, as the output checks see it.

The role-separation step stores a :class:`SystemPromptInfo` in
``ctx.state["guards.system"]`` when it attached a server-side system prompt; the
canary is a random token placed in that prompt and never shown to the client.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SystemPromptInfo:
    """The system prompt's text as sent upstream, and the canary token inside it."""

    text: str
    canary: str
