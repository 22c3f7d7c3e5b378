"""Settings sections owned by the traffic, cache and resilience parts.

Each part extends its own classes here; ``Settings``, ``AliasSettings`` and
``ProviderSettings`` hold one field per section.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
