"""Traffic control: provider capacity, client limits, budgets, the capacity queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.pipeline import Step

if TYPE_CHECKING:
    from bastion.app import Gateway


def build_steps(gw: Gateway) -> list[Step]:
    """The admit step(s) for ``gw``'s settings (placed after authenticate)."""
    return []
