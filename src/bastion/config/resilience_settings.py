"""Settings of the resilience part (global section and per-alias section)."""

from __future__ import annotations

from bastion.config.extensions import _Strict


class ResilienceSettings(_Strict):
    """The top-level `resilience:` section."""


class AliasResilience(_Strict):
    """The per-alias `models.<alias>.resilience:` section."""
