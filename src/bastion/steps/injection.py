"""injection →: prompt-injection scan of user input, tool results and documents.

Configured per alias from ``guards.injection`` and ``models.<alias>.guards.injection``
(:mod:`bastion.config.guard_settings`); the work itself is the pure
:func:`bastion.guards.injection.review.review`. This step adds what needs the request:

* a size limit (``max_scan_chars``: more text is a 400 ``input_too_large_to_scan``,
  never an unscanned pass);
* large inputs scanned off the event loop (:func:`bastion.core.offload.run_bounded`);
* the outcome: 400 ``prompt_injection_detected`` for a block; otherwise the rewritten
  request, an ``x-bastion-guard`` response header when something was found, and
  ``ctx.decisions["injection"]`` for the request log (score and reasons, never text);
* ``ctx.state["guards.untrusted"]``: whether untrusted content (tool results,
  documents not on the allow-list) is in the conversation; the tool-call checks read it;
* a detector that fails never becomes a 500: ``on_error: open`` lets the request pass
  (logged as ``injection_guard_error``), ``closed`` refuses it with 503
  ``guard_unavailable``.

It sits before the cache steps, so a refused request is never cached and a cached
answer was always given to a checked request.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from bastion.config.guard_settings import InjectionSettings
from bastion.core.context import Context, Reply
from bastion.core.errors import (
    GatewayError,
    GuardUnavailable,
    InputTooLargeToScan,
    PromptInjectionDetected,
)
from bastion.core.offload import run_bounded
from bastion.core.pipeline import Next
from bastion.guards.injection.review import Review, Scanner, review, text_size
from bastion.guards.system_prompt import UNTRUSTED_KEY
from bastion.observe.logging import get_logger

HEADER = "x-bastion-guard"
_log = get_logger("bastion.guards")


def _has_work(ctx: Context, cfg: InjectionSettings) -> bool:
    req = ctx.chat
    if req.documents:
        return True
    if cfg.action != "off":
        return True
    return any(m.role in ("tool", "function") for m in req.messages)


class InjectionGuard:
    def __init__(self, default: InjectionSettings,
                 per_alias: Mapping[str, InjectionSettings]) -> None:
        self.default = default
        self.per_alias = dict(per_alias)
        self.scanner = Scanner()

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        if ctx.kind != "chat":
            return await call_next(ctx)
        cfg = self.per_alias.get(ctx.alias, self.default)
        if not _has_work(ctx, cfg):
            return await call_next(ctx)
        size = text_size(ctx.chat)
        if size > cfg.max_scan_chars:
            raise InputTooLargeToScan(
                f"The request holds {size:,} characters of text; this model's safety checks "
                f"accept at most {cfg.max_scan_chars:,}. Send less text in one request.")
        try:
            result = await run_bounded(size, review, ctx.chat, cfg, self.scanner)
        except GatewayError:
            raise
        except Exception as e:  # noqa: BLE001 - a failing detector must not become a 500
            _log.error("injection_guard_error", request_id=ctx.request_id,
                       error=type(e).__name__, on_error=cfg.on_error)
            ctx.decisions["injection"] = {"error": type(e).__name__, "on_error": cfg.on_error}
            if cfg.on_error == "closed":
                raise GuardUnavailable() from None
            return await call_next(ctx)
        self._apply(ctx, cfg, result)
        return await call_next(ctx)

    def _apply(self, ctx: Context, cfg: InjectionSettings, r: Review) -> None:
        # False too: a conversation whose tool results are all from trusted sources is not
        # one the tool-call checks must treat as poisoned.
        ctx.state[UNTRUSTED_KEY] = r.untrusted
        if r.findings:
            top = max(r.findings, key=lambda f: f.verdict.score)
            reasons = sorted({x for f in r.findings for x in f.verdict.reasons})
            action = "block" if r.blocked else (r.changed or "flag")
            ctx.decisions["injection"] = {"score": top.verdict.score, "where": top.where,
                                          "reasons": reasons, "action": action}
            if r.blocked is not None:
                v = r.blocked.verdict
                raise PromptInjectionDetected(
                    f"The request was blocked: its {r.blocked.where} looks like a prompt "
                    f"injection ({', '.join(v.reasons) or 'classifier'}).")
            ctx.response_headers[HEADER] = (
                f"injection; action={action}; score={top.verdict.score:.2f}; "
                f"reasons={','.join(reasons)}")
        if r.messages is not None:
            ctx.request = msgspec.structs.replace(ctx.chat, messages=r.messages,
                                                  documents=None)
        elif ctx.chat.documents is not None:
            ctx.request = msgspec.structs.replace(ctx.chat, documents=None)
