"""Settings of the cache part (global section and per-alias section)."""

from __future__ import annotations

from bastion.config.extensions import _Strict


class CacheSettings(_Strict):
    """The top-level `cache:` section."""


class AliasCache(_Strict):
    """The per-alias `models.<alias>.cache:` section."""
