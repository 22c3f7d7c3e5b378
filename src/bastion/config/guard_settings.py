"""Settings of the input guards: prompt injection (direct and indirect) and role
separation (server-side system prompts, client system messages, canary).

```yaml
guards:
  injection: block                 # short form: the action only
  injection:                       # long form
    action: block                  # block | flag | sanitize | off   (user input)
    threshold: 0.5                 # combined score at which user input is an attack
    document_threshold: 0.5        # same, for tool results and documents
    indirect: null                 # block | drop | neutralise | flag; null: follows action
    spotlight: datamark            # datamark | delimit | off: how untrusted text goes upstream
    sources: []                    # trusted sources: "docs.example.com", "https://x/y/",
                                   # "tag:internal", "tool:get_weather"
    max_scan_chars: 1048576        # more text than this in one request: 400
    on_error: open                 # open (pass, logged) | closed (503) if a detector fails
  client_system: keep              # keep | reject | demote: system messages from clients
  canary: true                     # a canary token in every server-side system prompt
  system_prompts:                  # named templates, filled from the key's metadata
    support: "You are the support assistant of {team|Example Inc.}. The user is {user}."
models:
  chat:
    system_prompt: {template: support}     # or inline text (a template too)
    guards:
      injection: {action: flag, indirect: drop}   # fields not given follow `guards`
      client_system: reject
```

Template variables: ``{key_name}``, ``{key_id}``, ``{user}``, ``{team}``, ``{alias}``,
``{date}`` (UTC, ISO), each with an optional default after ``|``. Values come from the
virtual key's record, never from the request.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from bastion.config.extensions import _Strict

InjectionAction = Literal["block", "flag", "sanitize", "off"]
IndirectAction = Literal["block", "drop", "neutralise", "flag", "off"]
Spotlight = Literal["datamark", "delimit", "off"]
ClientSystem = Literal["keep", "reject", "demote"]
TEMPLATE_VARS = frozenset(("key_name", "key_id", "user", "team", "alias", "date"))
TEMPLATE_VAR = re.compile(r"\{([a-z_]+)(?:\|([^{}]*))?\}")
_SOURCE = re.compile(r"^(?:tag:\S+|tool:\S+|https?://\S+|[a-z0-9.-]+\.[a-z]{2,})$", re.I)


def _short_form(data: Any) -> Any:
    return {"action": data} if isinstance(data, str) else data


def check_template(text: str) -> str:
    for m in TEMPLATE_VAR.finditer(text):
        if m.group(1) not in TEMPLATE_VARS:
            raise ValueError(f"unknown template variable {{{m.group(1)}}}; use one of "
                             + ", ".join(f"{{{v}}}" for v in sorted(TEMPLATE_VARS)))
    return text


def _check_sources(v: list[str] | None) -> list[str] | None:
    for s in v or []:
        if not _SOURCE.match(s):
            raise ValueError(f"source {s!r} is not a domain (docs.example.com), a URL prefix "
                             "(https://…), tag:NAME or tool:NAME")
    return v


class _InjectionForms(_Strict):
    """The short form (``injection: flag``) and the check of ``sources``."""

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return _short_form(data)

    @field_validator("sources", check_fields=False)
    @classmethod
    def _sources(cls, v: list[str] | None) -> list[str] | None:
        return _check_sources(v)


class InjectionSettings(_InjectionForms):
    """``guards.injection`` (see the module docstring)."""

    action: InjectionAction = "block"
    threshold: float = Field(0.5, gt=0, le=1)
    document_threshold: float = Field(0.5, gt=0, le=1)
    indirect: IndirectAction | None = None
    spotlight: Spotlight = "datamark"
    sources: list[str] = Field(default_factory=list)
    max_scan_chars: int = Field(1_048_576, ge=1024)
    on_error: Literal["open", "closed"] = "open"

    def indirect_action(self) -> IndirectAction:
        if self.indirect is not None:
            return self.indirect
        return {"block": "block", "flag": "flag", "sanitize": "neutralise",
                "off": "off"}[self.action]  # type: ignore[return-value]


class AliasInjection(_InjectionForms):
    """``models.<alias>.guards.injection``: any field of ``guards.injection``; the rest
    follows the top level."""

    action: InjectionAction | None = None
    threshold: float | None = Field(None, gt=0, le=1)
    document_threshold: float | None = Field(None, gt=0, le=1)
    indirect: IndirectAction | None = None
    spotlight: Spotlight | None = None
    sources: list[str] | None = None
    max_scan_chars: int | None = Field(None, ge=1024)
    on_error: Literal["open", "closed"] | None = None

    def over(self, base: InjectionSettings) -> InjectionSettings:
        return base.model_copy(update=self.model_dump(exclude_none=True))


class SystemPromptRef(_Strict):
    """``models.<alias>.system_prompt: {template: NAME}``."""

    template: str


SystemPrompt = str | SystemPromptRef


def system_prompt_text(sp: SystemPrompt | None, templates: dict[str, str]) -> str | None:
    """An alias's server-side system prompt template (inline, or named), or ``None``."""
    if sp is None or isinstance(sp, str):
        return sp
    return templates[sp.template]
