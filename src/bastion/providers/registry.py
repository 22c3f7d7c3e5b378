"""Provider kinds by name. A new kind is a new module and one entry here."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bastion.config.secrets import Resolver, SecretSource
from bastion.config.settings import ProviderSettings
from bastion.providers.base import Provider
from bastion.providers.http import http_for


class Refreshable(Protocol):
    """Cached credentials that SIGHUP makes the gateway read (or fetch) again."""

    def invalidate(self) -> None: ...


@dataclass(slots=True)
class BuildContext:
    """What a factory may need besides the settings: the secret resolvers, the
    environment (``AWS_*``, ``GOOGLE_APPLICATION_CREDENTIALS``, …) and the cached
    credentials it made (secret sources, tokens), forgotten on SIGHUP."""

    resolvers: Mapping[str, Resolver]
    env: Mapping[str, str]
    sources: list[Refreshable] = field(default_factory=list)

    def secret(self, ref: str, ttl_s: float | None = None) -> SecretSource:
        source = SecretSource(ref, self.resolvers, ttl_s)
        self.sources.append(source)
        return source


Factory = Callable[[str, ProviderSettings, SecretSource | None, BuildContext], Provider]

# type -> "module:function" building the adapter; imported only when chosen.
REGISTRY: dict[str, str] = {
    "openai": "bastion.providers.registry:_openai",
    "azure_openai": "bastion.providers.registry:_openai",
    "openai_compatible": "bastion.providers.registry:_openai",
    "anthropic": "bastion.providers.anthropic:build",
    "gemini": "bastion.providers.gemini:build",
    "bedrock": "bastion.providers.bedrock:build",
    "vertex": "bastion.providers.vertex:build",
    "fake": "bastion.providers.registry:_fake",
}

_DEFAULT_URLS = {
    "openai": "https://api.openai.com/v1",
    "openai_compatible": "http://127.0.0.1:11434/v1",
}


def _openai(name: str, s: ProviderSettings, key: SecretSource | None,
            ctx: BuildContext) -> Provider:
    from bastion.providers.openai import OpenAIProvider

    if s.type == "azure_openai" and not s.base_url:
        raise ValueError(f"providers.{name}: azure_openai needs base_url (your resource URL)")
    return OpenAIProvider(
        name, http_for(s), base_url=s.base_url or _DEFAULT_URLS[s.type],
        api_key=key, style=s.type, api_version=s.api_version, extra_headers=s.headers,
    )


def _fake(name: str, s: ProviderSettings, key: SecretSource | None,
          ctx: BuildContext) -> Provider:
    from bastion.providers.fake import FakeProvider

    return FakeProvider(name, s.fake)


def build_provider(
    name: str, settings: ProviderSettings, resolvers: Mapping[str, Resolver],
    env: Mapping[str, str] | None = None,
) -> tuple[Provider, list[Refreshable]]:
    """The adapter for ``settings`` and its cached credentials (for SIGHUP re-reads)."""
    ctx = BuildContext(resolvers, os.environ if env is None else env)
    key = ctx.secret(settings.api_key, settings.key_ttl_s) if settings.api_key else None
    module, _, func = REGISTRY[settings.type].partition(":")
    factory: Factory = getattr(importlib.import_module(module), func)
    return factory(name, settings, key, ctx), ctx.sources
