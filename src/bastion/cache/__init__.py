"""Response caching: exact match and opt-in semantic, scoped per tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.pipeline import Step

if TYPE_CHECKING:
    from bastion.app import Gateway


def build_steps(gw: Gateway) -> list[Step]:
    """The cache step(s) for ``gw``'s settings (placed just before route)."""
    return []
