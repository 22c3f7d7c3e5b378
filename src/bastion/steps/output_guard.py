"""Output checks and the tool-call firewall, applied on the way back.

Sits before the cache steps (so every answer a client gets, cached or not, passes
it) and inside privacy (so it judges the provider's own words). Per request it
gathers what the checks need (see :mod:`bastion.guards.output.check`):

* the system prompt to protect: the server-side one in ``ctx.state["guards.system"]``
  (with its canary) or, when there is none, the system/developer messages the
  client sent;
* whether the firewall applies: ``guards.tools.check: always``, or untrusted content
  in the conversation (``ctx.state["guards.untrusted"]`` when the injection step
  set it; otherwise any tool or function result in the messages);
* the tools the client offered, the requested ``response_format``, and values a
  privacy step marked sensitive (``ctx.state["guards.sensitive_values"]``).

Streams go through :func:`bastion.core.holdback.hold_back`: nothing blocked ever
reaches the client; the stream ends with ``finish_reason="content_filter"`` and an
error event with code ``content_filtered``. Whole answers are checked in one go
(off the event loop when large) and refused with 400 ``content_filtered``; an
answer that fails its JSON schema is repaired by asking the model once more, then
refused with 502 ``output_schema_mismatch``. In ``flag`` mode findings go to the
``x-bastion-guard`` response header (whole answers), ``ctx.decisions`` and the log.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from bastion.config.secrets import SecretSource, default_resolvers
from bastion.core.context import Context, Reply
from bastion.core.errors import OutputSchemaMismatch
from bastion.core.holdback import filter_response, hold_back
from bastion.core.offload import run_bounded
from bastion.core.pipeline import Next
from bastion.core.types import ChatRequest, ChatResponse, Message, Usage
from bastion.guards.output.base import Finding
from bastion.guards.output.check import AnswerChecks, OutputPolicy
from bastion.guards.output.leak import LeakDetector
from bastion.guards.output.remote import MODEL, RemoteModeration
from bastion.guards.output.schema import check_json, wanted_schema
from bastion.guards.system_prompt import SystemPromptInfo
from bastion.providers.base import CallTimeouts
from bastion.providers.http import http_for
from bastion.providers.moderation import ProviderModerator

if TYPE_CHECKING:
    from bastion.app import Gateway

log = logging.getLogger("bastion.guards")
GUARD_HEADER = "x-bastion-guard"
_REPAIR_PROMPT = (
    "Your previous answer did not match the required JSON schema. Problems: {errors}. "
    "Answer again with only the JSON value, valid against the schema, and nothing else."
)


def _remote(gw: Gateway, name: str, timeout_ms: int,
            made: dict[str, RemoteModeration]) -> RemoteModeration:
    if name not in made:
        ps = gw.settings.providers[name]  # checked with the settings
        assert ps.base_url is not None
        key = (SecretSource(ps.api_key, default_resolvers(gw.env), ps.key_ttl_s)
               if ps.api_key else None)
        t = timeout_ms / 1000
        made[name] = RemoteModeration(ProviderModerator(
            name, http_for(ps), ps.base_url, MODEL, key,
            CallTimeouts(connect=min(t, 2.0), first_byte=t, total=t)))
        gw.on_close.append(made[name].aclose)
    return made[name]


def build_output_steps(gw: Gateway) -> list[OutputGuardStep]:
    """One step for every chat alias's resolved policy (none when all are off)."""
    g = gw.settings.guards
    policies: dict[str, OutputPolicy] = {}
    remotes: dict[str, RemoteModeration] = {}
    for name, alias in gw.settings.models.items():
        if alias.kind != "chat":
            continue
        out = alias.guards.output.over(g.output) if alias.guards.output else g.output
        tools = alias.guards.tools.over(g.tools) if alias.guards.tools else g.tools
        remote = (_remote(gw, out.moderation_provider, out.moderation_timeout_ms, remotes)
                  if out.moderation_provider and out.mode != "off" else None)
        policy = OutputPolicy.build(out, tools, remote)
        if policy.active:
            policies[name] = policy
    return [OutputGuardStep(policies)] if policies else []


def untrusted(ctx: Context) -> bool:
    """Whether untrusted content (tool or function results) entered the conversation."""
    flag = ctx.state.get("guards.untrusted")
    if flag is not None:
        return bool(flag)
    return any(m.role in ("tool", "function") for m in ctx.chat.messages)


def _offered(req: ChatRequest) -> frozenset[str] | None:
    names = [str(t.get("function", {}).get("name", "")) for t in req.tools or []]
    names += [str(f.get("name", "")) for f in req.functions or []]
    return frozenset(n for n in names if n) or None


def _leak(ctx: Context, min_words: int) -> LeakDetector | None:
    info = ctx.state.get("guards.system")
    det: LeakDetector | None = None
    if isinstance(info, SystemPromptInfo):
        det = LeakDetector(info.text, info.canary, min_words)
    else:
        text = "\n".join(m.text() for m in ctx.chat.messages if m.role in ("system", "developer"))
        det = LeakDetector(text, "", min_words) if text else None
    return det if det is not None and det.active else None


def _report(ctx: Context, findings: list[Finding]) -> None:
    reasons = sorted({f.reason for f in findings})
    seen = ctx.decisions.setdefault("guards_output", [])
    seen.extend(r for r in reasons if r not in seen)
    prior = ctx.response_headers.get(GUARD_HEADER)
    ctx.response_headers[GUARD_HEADER] = ", ".join([*([prior] if prior else []), *reasons])
    log.warning("output guard flagged", extra={"request_id": ctx.request_id,
                                               "reasons": reasons})


class OutputGuardStep:
    """See the module docstring. ``policies`` maps chat aliases to their checks."""

    def __init__(self, policies: Mapping[str, OutputPolicy]) -> None:
        self.policies = dict(policies)

    def _checks(self, ctx: Context, policy: OutputPolicy) -> AnswerChecks:
        req = ctx.chat
        o, t = policy.output, policy.tools
        kind, schema = wanted_schema(req.response_format) if o.schema_check != "off" else ("", None)
        return AnswerChecks(
            policy=policy,
            leak=_leak(ctx, o.leak_min_words) if o.leak or t.sensitive else None,
            firewall_on=t.mode != "off" and (t.check == "always" or untrusted(ctx)),
            offered_tools=_offered(req),
            schema_kind=kind if o.mode != "off" else "",
            schema=schema,
            sensitive_values=tuple(ctx.state.get("guards.sensitive_values", ())),
            report=lambda findings: _report(ctx, findings),
            trusted_texts=tuple(m.text() for m in req.messages if m.role in (
                "user", "system", "developer")) if t.trust_user_destinations else (),
        )

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        policy = self.policies.get(ctx.alias)
        if policy is None or ctx.kind != "chat":
            return await call_next(ctx)
        checks = self._checks(ctx, policy)
        reply = await call_next(ctx)
        if reply.stream is not None:
            return reply.map_stream(lambda s: hold_back(s, checks.make_filter))
        if not isinstance(reply.response, ChatResponse):
            return reply
        if checks.schema_kind:
            reply = await self._schema(ctx, call_next, checks, reply)
        whole = dataclasses.replace(checks, schema_kind="")
        resp = reply.chat
        work = sum(len(c.message.text()) + sum(len(t.function.arguments or "")
                                               for t in c.message.tool_calls or [])
                   for c in resp.choices)
        await run_bounded(work, filter_response, resp, whole.make_filter)
        await checks.remote("\n".join(c.message.text() for c in resp.choices))
        return reply

    async def _schema(self, ctx: Context, call_next: Next, checks: AnswerChecks,
                      reply: Reply) -> Reply:
        errors = _schema_errors(checks, reply.chat)
        if not errors:
            return reply
        o = checks.policy.output
        if o.mode == "flag":
            checks.report([Finding("schema", "mismatch")])
            return reply
        if o.schema_check == "validate":
            raise _mismatch(errors)
        req = ctx.chat
        first = next((c.message.text() for c in reply.chat.choices), "")
        usage, cost = ctx.usage, ctx.cost_usd
        ctx.request = msgspec.structs.replace(req, messages=[
            *req.messages, Message(role="assistant", content=first),
            Message(role="user", content=_REPAIR_PROMPT.format(errors="; ".join(errors)))])
        try:
            second = await call_next(ctx)
        finally:
            ctx.request = req
        _add_usage(ctx, usage, cost)
        ctx.decisions["guards_schema"] = "repair"
        if not isinstance(second.response, ChatResponse) or _schema_errors(checks,
                                                                            second.chat):
            ctx.decisions["guards_schema"] = "refused"
            raise _mismatch(errors)
        ctx.decisions["guards_schema"] = "repaired"
        return second


def _mismatch(errors: list[str]) -> OutputSchemaMismatch:
    return OutputSchemaMismatch("The model's answer did not match the requested JSON schema, "
                                "even after one repair attempt (" + "; ".join(errors[:3]) + ").")


def _schema_errors(checks: AnswerChecks, resp: ChatResponse) -> list[str]:
    """Errors of the first choice that fails; choices fixed by unwrapping are fixed in place."""
    for c in resp.choices:
        msg = c.message
        if msg.refusal or (msg.tool_calls and not msg.text()):
            continue
        result = check_json(msg.text(), checks.schema_kind, checks.schema)
        if not result.ok:
            return list(result.errors)
        if result.text is not None:
            msg.content = result.text
    return []


def _add_usage(ctx: Context, usage: Usage | None, cost: float) -> None:
    if usage is None:
        return
    if ctx.usage is None:
        ctx.usage = usage
    else:
        p = usage.prompt_tokens + ctx.usage.prompt_tokens
        c = usage.completion_tokens + ctx.usage.completion_tokens
        ctx.usage = Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)
    ctx.cost_usd += cost
