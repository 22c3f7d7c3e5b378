"""Who answers ``POST /v1/moderations``: the :class:`Moderator` protocol and its parts.

The seam
--------
A moderator is one object with one method::

    async def moderate(self, req: ModerationRequest) -> JSON

that returns OpenAI's moderation object (``id``, ``model``, ``results`` with one
entry per input: ``flagged``, ``categories``, ``category_scores``,
``category_applied_input_types``). :func:`build_moderator` picks one from the
settings; the front door (:mod:`bastion.api.moderations`) only calls it.

* :class:`ProviderModerator` forwards to a provider's ``/moderations`` API
  (``moderations.target``: an ``openai`` or ``openai_compatible`` provider).
* With no target, :func:`build_moderator` returns the local detector
  (:class:`bastion.guards.output.moderation.LocalModerator`, model ``bastion-local``).

A local detector (the gateway's own harmful-content checks) plugs in as another
``Moderator``: it scores each text per category and hands the scores to
:func:`result_for`, which fills OpenAI's full category set, then
:func:`build_moderator` returns it when no provider target is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from bastion.config.secrets import Resolver, SecretSource
from bastion.config.settings import Settings
from bastion.core.errors import ProviderBadResponse
from bastion.core.types import JSON
from bastion.providers.base import CallTimeouts
from bastion.providers.http import ProviderHTTP, http_for, post, provider_key, read_body

# OpenAI's moderation categories, in its order; every result names all of them.
CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
              "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent",
              "sexual", "sexual/minors", "violence", "violence/graphic")
_DEFAULT_URLS = {"openai": "https://api.openai.com/v1",
                 "openai_compatible": "http://127.0.0.1:11434/v1"}


class ModerationRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/moderations`` body: text, a list of texts, or a list of typed parts."""

    input: str | list[Any]
    model: str | None = None

    def texts(self) -> list[str]:
        """Every text in ``input`` (images are the provider's business)."""
        if isinstance(self.input, str):
            return [self.input]
        out = []
        for x in self.input:
            if isinstance(x, str):
                out.append(x)
            elif isinstance(x, dict) and x.get("type") == "text":
                out.append(str(x.get("text", "")))
        return out


class Moderator(Protocol):
    """Answers moderation requests (see the module docstring). Raises only gateway errors
    (:class:`~bastion.core.errors.ProviderError` subclasses for a provider's failures)."""

    async def moderate(self, req: ModerationRequest) -> JSON: ...

    async def aclose(self) -> None: ...


def result_for(scores: Mapping[str, float], threshold: float = 0.5) -> JSON:
    """One OpenAI-shaped result from per-category scores (categories not scored are 0)."""
    full = {c: float(scores.get(c, 0.0)) for c in CATEGORIES}
    flags = {c: s >= threshold for c, s in full.items()}
    return {"flagged": any(flags.values()), "categories": flags, "category_scores": full,
            "category_applied_input_types": {
                c: (["text"] if flags[c] else []) for c in CATEGORIES}}


class ProviderModerator:
    """Forwards to ``{base_url}/moderations`` of an OpenAI-style provider."""

    def __init__(self, name: str, http: ProviderHTTP, base_url: str, model: str,
                 key: SecretSource | None, timeouts: CallTimeouts) -> None:
        self.name = name
        self._http = http
        self._url = base_url.rstrip("/") + "/moderations"
        self.model = model
        self._key = key
        self._timeouts = timeouts

    async def moderate(self, req: ModerationRequest) -> JSON:
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {await provider_key(self._key, self.name)}"
        body = msgspec.json.encode({"input": req.input, "model": self.model})
        deadline = asyncio.get_running_loop().time() + self._timeouts.total
        async with post(self._http, self._url, body, headers, self._timeouts) as resp:
            raw = await read_body(resp, deadline, self._http.max_response_bytes)
        try:
            out = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise ProviderBadResponse() from None
        if not isinstance(out, dict) or not isinstance(out.get("results"), list):
            raise ProviderBadResponse()
        return out

    async def aclose(self) -> None:
        await self._http.aclose()


def build_moderator(settings: Settings, resolvers: Mapping[str, Resolver]) -> Moderator | None:
    """The moderator the settings ask for, or ``None`` (the door then answers 501)."""
    target = settings.moderations.target
    if target is None:
        # The gateway's own detector (imported only then: providers need not load guards).
        from bastion.guards.output.moderation import LocalModerator

        return LocalModerator()
    name, _, model = target.partition("/")
    ps = settings.providers[name]  # checked by the settings validator
    key = SecretSource(ps.api_key, resolvers, ps.key_ttl_s) if ps.api_key else None
    t = settings.moderations.timeout_ms / 1000
    return ProviderModerator(name, http_for(ps), ps.base_url or _DEFAULT_URLS[ps.type],
                             model, key, CallTimeouts(connect=min(t, 2.0), first_byte=t, total=t))

