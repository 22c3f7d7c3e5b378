"""system_prompt →: role separation — the server-side system prompt and client system
messages.

Per alias (:mod:`bastion.config.guard_settings`):

* ``client_system``: what happens to ``system``/``developer`` messages a client sends:
  ``keep`` (after the server's prompt), ``reject`` (400 ``system_message_not_allowed``)
  or ``demote`` (sent on as ``user`` messages, so they carry a user's authority only);
* ``system_prompt``: a template (inline, or ``{template: NAME}`` from
  ``guards.system_prompts``) rendered from the key's record and put first in the
  conversation, with a canary line (``guards.canary``). Its text and canary go to
  ``ctx.state["guards.system"]`` (:class:`~bastion.guards.system_prompt.SystemPromptInfo`)
  for the output checks. The client never sees the prompt or the canary.

This step runs before the injection scan (which scans user messages only, so never the
server's own prompt, and sees demoted client system messages as user text) and before
the cache steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from bastion.config.guard_settings import ClientSystem
from bastion.core.context import Context, Reply
from bastion.core.errors import SystemMessageNotAllowed
from bastion.core.pipeline import Next
from bastion.core.types import Message
from bastion.guards.system_prompt import (
    CANARY_PREFIX,
    STATE_KEY,
    SystemPromptInfo,
    canary_line,
    render,
)
from bastion.keys import KeyService

_CLIENT_ROLES = ("system", "developer")


@dataclass(frozen=True, slots=True)
class AliasRoles:
    template: str | None
    client_system: ClientSystem


class RoleSeparation:
    def __init__(self, per_alias: Mapping[str, AliasRoles], default: AliasRoles,
                 canary: bool, keys: KeyService) -> None:
        self.per_alias = dict(per_alias)
        self.default = default
        self.canary = canary
        self.keys = keys

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        if ctx.kind != "chat":
            return await call_next(ctx)
        roles = self.per_alias.get(ctx.alias, self.default)
        req = ctx.chat
        messages = req.messages
        changed = False
        if roles.client_system != "keep" and any(m.role in _CLIENT_ROLES for m in messages):
            if roles.client_system == "reject":
                raise SystemMessageNotAllowed()
            messages = [msgspec.structs.replace(m, role="user") if m.role in _CLIENT_ROLES
                        else m for m in messages]
            changed = True
        if roles.template is not None:
            text = render(roles.template, ctx.identity, ctx.alias)
            canary = ""
            if self.canary:
                digest = await self.keys.hash_key(f"canary\0{ctx.alias}\0{text}")
                canary = CANARY_PREFIX + digest[:16]
                text += canary_line(canary)
            ctx.state[STATE_KEY] = SystemPromptInfo(text=text, canary=canary)
            messages = [Message(role="system", content=text), *messages]
            changed = True
        if changed:
            ctx.request = msgspec.structs.replace(req, messages=messages)
        return await call_next(ctx)
