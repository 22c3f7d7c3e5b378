"""Settings of the traffic part (global section and per-alias section)."""

from __future__ import annotations

from bastion.config.extensions import _Strict


class TrafficSettings(_Strict):
    """The top-level `traffic:` section."""


class AliasTraffic(_Strict):
    """The per-alias `models.<alias>.traffic:` section."""
