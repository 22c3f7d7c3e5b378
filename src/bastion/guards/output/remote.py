"""A provider's moderation endpoint as a second opinion on whole answers.

``guards.output.moderation_provider`` names a provider (OpenAI-style, under
``providers:``); its ``POST {base_url}/moderations`` is asked about an answer the
local detector passed, and each category it flags that the alias watches
(``harmful_categories``, matched by name or by its parent: ``self-harm`` covers
``self-harm/intent``) becomes a finding. Used on whole answers only: a stream
cannot wait for a round trip per window, so streams rely on the local detector.
A failure (time-out, refusal, an unreadable answer) raises, and the step follows
``on_error``. The key is resolved like the provider's own and never logged.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
import msgspec

from bastion.config.secrets import SecretSource
from bastion.guards.output.base import Finding
from bastion.providers.base import CallTimeouts
from bastion.providers.http import new_session, post

MODEL = "omni-moderation-latest"
MAX_INPUT_CHARS = 32 * 1024


class RemoteModeration:
    """One provider's moderation endpoint; the HTTP session is made on first use."""

    def __init__(self, base_url: str, key: SecretSource | None, timeout_s: float) -> None:
        self.url = base_url.rstrip("/") + "/moderations"
        self.key = key
        self.timeouts = CallTimeouts(timeout_s, timeout_s, timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def findings(self, text: str, watched: Iterable[str]) -> list[Finding]:
        if self._session is None:
            self._session = new_session(16)
        headers = {"Content-Type": "application/json"}
        if self.key is not None:
            headers["Authorization"] = f"Bearer {(await self.key.get()).reveal()}"
        body = msgspec.json.encode({"model": MODEL, "input": text[:MAX_INPUT_CHARS]})
        async with post(self._session, self.url, body, headers, self.timeouts) as resp:
            doc = msgspec.json.decode(await resp.read())
        result = doc["results"][0]
        flagged: dict[str, bool] = result.get("categories") or {}
        scores: dict[str, float] = result.get("category_scores") or {}
        wanted = tuple(watched)
        return [Finding("harmful", f"{cat} (provider)", float(scores.get(cat, 1.0)))
                for cat, on in flagged.items()
                if on and any(cat == w or cat.startswith(w + "/") for w in wanted)]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
