"""Settings of ``POST /v1/moderations``.

```yaml
moderations:
  target: openai/omni-moderation-latest   # provider/model; the provider must be of type
                                          # openai or openai_compatible (a /moderations API)
```

Without a target the endpoint answers 501 ``not_configured``, naming this setting.
"""

from __future__ import annotations

from pydantic import Field

from bastion.config.extensions import _Strict

MODERATION_PROVIDER_TYPES = ("openai", "openai_compatible")


class ModerationSettings(_Strict):
    target: str | None = Field(None, pattern=r"^[^/\s]+/\S+$")
    timeout_ms: int = Field(10000, ge=1)

    def check(self, provider_types: dict[str, str]) -> str | None:
        """What is wrong with ``target`` given the configured providers, or ``None``."""
        if self.target is None:
            return None
        provider = self.target.split("/", 1)[0]
        kind = provider_types.get(provider)
        if kind is None:
            return (f"target {self.target!r} names provider {provider!r}, which is not "
                    "under providers")
        if kind not in MODERATION_PROVIDER_TYPES:
            return (f"provider {provider!r} is of type {kind}, which has no moderations API; "
                    f"use a provider of type {' or '.join(MODERATION_PROVIDER_TYPES)}")
        return None
