"""A provider's moderation endpoint as a second opinion on whole answers.

``guards.output.moderation_provider`` names a provider (OpenAI-style, under
``providers:``); its ``/moderations`` API (through the same
:class:`~bastion.providers.moderation.ProviderModerator` that serves
``POST /v1/moderations``) is asked about an answer the local detector passed, and
each category it flags that the alias watches (``harmful_categories``, by name or
by parent: ``self-harm`` covers ``self-harm/intent``) becomes a finding. Used on
whole answers only: a stream cannot wait for a round trip per window, so streams
rely on the local detector. A failure raises, and the step follows ``on_error``.
"""

from __future__ import annotations

from collections.abc import Iterable

from bastion.guards.output.base import Finding
from bastion.providers.moderation import ModerationRequest, Moderator

MODEL = "omni-moderation-latest"
MAX_INPUT_CHARS = 32 * 1024


class RemoteModeration:
    """Findings from one moderator for the categories an alias watches."""

    def __init__(self, moderator: Moderator) -> None:
        self.moderator = moderator

    async def findings(self, text: str, watched: Iterable[str]) -> list[Finding]:
        doc = await self.moderator.moderate(ModerationRequest(input=text[:MAX_INPUT_CHARS]))
        result = doc["results"][0]
        flagged: dict[str, bool] = result.get("categories") or {}
        scores: dict[str, float] = result.get("category_scores") or {}
        wanted = tuple(watched)
        return [Finding("harmful", f"{cat} (provider)", float(scores.get(cat, 1.0)))
                for cat, on in flagged.items()
                if on and any(cat == w or cat.startswith(w + "/") for w in wanted)]

    async def aclose(self) -> None:
        await self.moderator.aclose()
