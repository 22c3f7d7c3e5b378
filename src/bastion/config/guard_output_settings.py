"""Settings of the output checks (``guards.output``) and the tool-call firewall
(``guards.tools``), top level and per alias.

Both accept a mode alone (``output: block``) or a mapping. An alias's value is
laid over the top-level one: only the keys the alias writes change, so
``models.X.guards.output: flag`` keeps every other output setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OutputMode = Literal["block", "flag", "off"]
HarmCategory = Literal[
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
    "sexual/minors", "violence", "violence/graphic",
]
DEFAULT_HARM: tuple[HarmCategory, ...] = (
    "violence", "self-harm", "sexual/minors", "hate", "illicit")


class _ModeOrMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _mode_alone(cls, data: Any) -> Any:
        return {"mode": data} if isinstance(data, str) else data

    def over(self, base: _ModeOrMapping) -> Any:
        """``base`` with the keys this (alias-level) value wrote laid over it."""
        return base.model_copy(update={k: getattr(self, k) for k in self.model_fields_set})


class OutputGuard(_ModeOrMapping):
    """``guards.output``: what is checked in answers, and what happens on a finding."""

    mode: OutputMode = "block"
    leak: bool = True  # canary and long overlaps with the system prompt
    leak_min_words: int = Field(10, ge=4, le=200)
    secrets: bool = True
    secrets_min_confidence: Literal["high", "medium", "low"] = "medium"
    harmful: bool = True
    harmful_categories: list[HarmCategory] = Field(default_factory=lambda: list(DEFAULT_HARM))
    harmful_threshold: float = Field(0.5, gt=0, le=1)
    # a provider (under providers:, OpenAI-style) whose /moderations endpoint is also asked
    moderation_provider: str | None = None
    moderation_timeout_ms: int = Field(2000, ge=50, le=60000)
    schema_check: Literal["repair", "validate", "off"] = "repair"  # response_format
    window_chars: int = Field(256, ge=32, le=16384)  # streamed text held back for checking
    on_error: Literal["open", "closed"] = "open"  # a check that fails: pass or refuse


class ToolFirewall(_ModeOrMapping):
    """``guards.tools``: which tool calls the model may emit, with which destinations."""

    mode: OutputMode = "block"
    check: Literal["untrusted", "always"] = "untrusted"  # only after untrusted content, or always
    allowed_tools: list[str] | None = None  # None: the tools the client offered
    allowed_domains: list[str] | None = None  # None: any; "example.com" covers its subdomains
    allowed_recipients: list[str] | None = None  # addresses, or "@example.com" for a domain
    allowed_arguments: dict[str, list[str]] = Field(default_factory=dict)  # "tool.arg": globs
    sensitive: bool = True  # system prompt or secrets in arguments to a non-allowed destination
    trust_user_destinations: bool = True  # destinations the user wrote are allowed too


def moderation_provider_problems(
    top: OutputGuard, models: Iterable[tuple[str, Any]], providers: Mapping[str, Any],
) -> list[tuple[tuple[str | int, ...], str]]:
    """``(path, message)`` for each ``moderation_provider`` that names no OpenAI-style
    provider (checked with the whole config, before anything is built)."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    named: list[tuple[tuple[str | int, ...], str | None]] = [
        (("guards", "output", "moderation_provider"), top.moderation_provider)]
    for alias, m in models:
        g = m.guards.output
        if g is not None and "moderation_provider" in g.model_fields_set:
            named.append((("models", alias, "guards", "output", "moderation_provider"),
                          g.moderation_provider))
    for path, name in named:
        p = providers.get(name) if name else None
        if name and (p is None or p.type not in ("openai", "openai_compatible") or not p.base_url):
            out.append((path, f"{name!r} must name an OpenAI-style provider (type openai or "
                              "openai_compatible, with a base_url) under providers"))
    return out
