"""Provider kinds by name. A new kind is a new module and one entry here."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from bastion.config.secrets import Resolver, SecretSource
from bastion.config.settings import ProviderSettings
from bastion.providers.base import Provider
from bastion.providers.http import http_for

Factory = Callable[[str, ProviderSettings, SecretSource | None], Provider]

# type -> "module:function" building the adapter; imported only when chosen.
REGISTRY: dict[str, str] = {
    "openai": "bastion.providers.registry:_openai",
    "azure_openai": "bastion.providers.registry:_openai",
    "openai_compatible": "bastion.providers.registry:_openai",
    "anthropic": "bastion.providers.anthropic:build",
    "gemini": "bastion.providers.gemini:build",
    "fake": "bastion.providers.registry:_fake",
}

_DEFAULT_URLS = {
    "openai": "https://api.openai.com/v1",
    "openai_compatible": "http://127.0.0.1:11434/v1",
}


def _openai(name: str, s: ProviderSettings, key: SecretSource | None) -> Provider:
    from bastion.providers.openai import OpenAIProvider

    if s.type == "azure_openai" and not s.base_url:
        raise ValueError(f"providers.{name}: azure_openai needs base_url (your resource URL)")
    return OpenAIProvider(
        name, http_for(s), base_url=s.base_url or _DEFAULT_URLS[s.type],
        api_key=key, style=s.type, api_version=s.api_version, extra_headers=s.headers,
    )


def _fake(name: str, s: ProviderSettings, key: SecretSource | None) -> Provider:
    from bastion.providers.fake import FakeProvider

    return FakeProvider(name, s.fake)


def build_provider(
    name: str, settings: ProviderSettings, resolvers: Mapping[str, Resolver]
) -> tuple[Provider, SecretSource | None]:
    """The adapter for ``settings`` and the source of its key (for SIGHUP re-reads)."""
    key = (SecretSource(settings.api_key, resolvers, settings.key_ttl_s)
           if settings.api_key else None)
    module, _, func = REGISTRY[settings.type].partition(":")
    factory: Factory = getattr(importlib.import_module(module), func)
    return factory(name, settings, key), key
