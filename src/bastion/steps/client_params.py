"""client_params →: client parameters that raise a call's price or retention pass only
where the alias allows them (``models.<alias>.client_params.allow``).

Budgets and the usage log price a call by its target's per-token price; a client
that asks the provider for a dearer service, or to keep its data, would spend more
than the gateway counts, or leave data where the operator did not agree to. So,
unless the alias allows it, the gateway drops:

* ``store``: ``store: true`` (OpenAI keeps the exchange for evals and distillation);
  ``store: false`` passes;
* ``service_tier``: any tier but ``auto``, ``default``, ``flex`` and
  ``standard_only`` (so ``priority``, ``scale`` and unknown tiers), on both dialects;
* ``speed``: the Anthropic dialect's ``speed`` (fast mode is priced higher);
* ``anthropic_beta``: betas of the client's ``anthropic-beta`` header that change the
  price (:data:`PRICED_BETAS`: long context, extended cache lifetimes); other betas pass.

Each request that lost something gets one ``client_params_dropped`` log line (names and
the offending values, never message text) and ``decisions["params_dropped"]``. It sits
before the cache, so the cache key sees the request as it will be sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from bastion.core.context import Context, Reply
from bastion.core.pipeline import Next
from bastion.core.types import ChatRequest
from bastion.observe.logging import get_logger

if TYPE_CHECKING:
    from bastion.config.settings import AliasSettings

STANDARD_TIERS = frozenset({"auto", "default", "flex", "standard_only"})
PRICED_BETAS = ("context-1m", "extended-cache-ttl")
_ALL = frozenset({"store", "service_tier", "speed", "anthropic_beta"})


def _log() -> Any:
    """A logger per event (events here are rare, the failure log is rate-limited), so a
    reconfigured structlog (tests, the demo) takes effect at once."""
    return get_logger("bastion.params")


def _drop_canonical(req: ChatRequest, allow: frozenset[str], dropped: list[str]
                    ) -> ChatRequest:
    changes: dict[str, None] = {}
    if req.store and "store" not in allow:
        changes["store"] = None
        dropped.append("store")
    tier = req.service_tier
    if tier is not None and tier not in STANDARD_TIERS and "service_tier" not in allow:
        changes["service_tier"] = None
        dropped.append(f"service_tier={tier[:40]}")
    return msgspec.structs.replace(req, **changes) if changes else req


def _drop_anthropic(ch: object, allow: frozenset[str], dropped: list[str]) -> None:
    params = getattr(ch, "params", None)
    if isinstance(params, dict):
        tier = params.get("service_tier")
        if tier is not None and tier not in STANDARD_TIERS and "service_tier" not in allow:
            del params["service_tier"]
            dropped.append(f"service_tier={str(tier)[:40]}")
        if "speed" in params and "speed" not in allow:
            dropped.append(f"speed={str(params.pop('speed'))[:40]}")
    betas = getattr(ch, "betas", None)
    if betas and "anthropic_beta" not in allow:
        names = [b.strip() for b in betas.split(",") if b.strip()]
        keep = [b for b in names if not b.startswith(PRICED_BETAS)]
        if len(keep) != len(names):
            dropped.extend(f"anthropic-beta={b[:60]}" for b in names if b not in keep)
            ch.betas = ",".join(keep) or None  # type: ignore[attr-defined]


class ClientParams:
    """The step (see the module docstring)."""

    def __init__(self, aliases: dict[str, AliasSettings]) -> None:
        # only the aliases where something is to be checked
        self.allow = {name: frozenset(a.client_params.allow) for name, a in aliases.items()
                      if frozenset(a.client_params.allow) != _ALL}

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        allow = self.allow.get(ctx.alias)
        req = ctx.request
        if allow is None or not isinstance(req, ChatRequest):
            return await call_next(ctx)
        dropped: list[str] = []
        if req.store or req.service_tier is not None:
            ctx.request = _drop_canonical(req, allow, dropped)
        ch = ctx.state.get("anthropic")
        if ch is not None:
            _drop_anthropic(ch, allow, dropped)
        if dropped:
            ctx.decisions["params_dropped"] = dropped
            _log().info("client_params_dropped", request_id=ctx.request_id, alias=ctx.alias,
                      dropped=dropped)
        return await call_next(ctx)
