"""Settings of the gateway's own defences (the top-level ``security:`` section).

See ``docs/security.md`` for the threat model these settings belong to.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bastion.config.extensions import _Strict


class AuthThrottleSettings(_Strict):
    """Failed authentication, throttled per client address (see :mod:`bastion.auth_guard`).

    An address (an IPv6 address counts by its /64) with ``max_failures`` failed
    attempts (a wrong, unknown, revoked or missing caller credential, a wrong master key
    or admin password) within
    ``window_s`` is refused every authentication for ``block_s`` seconds: 429
    ``too_many_auth_failures`` with ``Retry-After``, before any key is looked at.
    """

    enabled: bool = True
    max_failures: int = Field(20, ge=1)
    window_s: float = Field(60.0, gt=0)
    block_s: float = Field(60.0, gt=0)
    # The header a reverse proxy in front of every request sets to the client's address
    # (e.g. X-Real-IP; the last entry of a list counts). Unset: the peer's address.
    client_address_header: str | None = None
    log_interval_s: float = Field(1.0, gt=0, description="at most one auth_failed line per")


class SecuritySettings(_Strict):
    auth_throttle: AuthThrottleSettings = Field(default_factory=AuthThrottleSettings)


PricedParam = Literal["store", "service_tier", "speed", "anthropic_beta"]


class AliasClientParams(_Strict):
    """The per-alias ``models.<alias>.client_params:`` section (see
    :mod:`bastion.steps.client_params`): which client parameters that raise the price
    or the retention of a call may pass. Default: none of them."""

    allow: list[PricedParam] = Field(default_factory=list)
