"""Settings of cost-aware routing and context trimming (per alias; ``docs/cost-routing.md``).

```yaml
models:
  assistant:
    kind: auto                      # picks one of two ordinary aliases per request
    auto:
      cheap: small                  # simple requests (labels, yes/no, extraction, …)
      strong: big                   # everything else (code, reasoning, tools, long context)
      max_cheap_prompt_tokens: 2000 # estimated; longer prompts go strong
      max_cheap_turns: 4            # more user turns go strong
      classifier: false             # true: the local classifier decides what the rules
                                    # leave open (needs the `semantic` extra)
  small:
    targets: [openai/gpt-4o-mini]
    context:                        # a prompt token budget for this alias
      max_prompt_tokens: 16000      # over it, the oldest turns are dropped
      system_warn_share: 0.5        # warn when the system prompt alone is over this share
      summarize_with: null          # a chat alias that summarises the dropped turns
      summary_max_tokens: 300       # the summary's length limit
```

An ``auto`` alias holds only ``kind`` and ``auto``: guards, cache, limits, context
budget and everything else are those of the alias it picks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from pydantic import Field

from bastion.config.extensions import _Strict


class AliasAuto(_Strict):
    """``models.<alias>.auto``: the two aliases an ``auto`` alias picks between, and the
    thresholds of its rules (:mod:`bastion.cost.rules`)."""

    cheap: str = Field(min_length=1)
    strong: str = Field(min_length=1)
    max_cheap_prompt_tokens: int = Field(2000, ge=1)
    max_cheap_turns: int = Field(4, ge=1)
    classifier: bool = False


class AliasContext(_Strict):
    """``models.<alias>.context``: the prompt token budget (:mod:`bastion.cost.trim`)."""

    max_prompt_tokens: int = Field(ge=64)
    system_warn_share: float = Field(0.5, gt=0, le=1)
    summarize_with: str | None = None
    summary_max_tokens: int = Field(300, ge=16, le=4096)


class _Alias(Protocol):
    """What the checks read of an alias (``AliasSettings``, without importing it)."""

    @property
    def kind(self) -> str: ...

    @property
    def auto(self) -> AliasAuto | None: ...

    @property
    def context(self) -> AliasContext | None: ...

    @property
    def model_fields_set(self) -> set[str]: ...


AUTO_FIELDS = frozenset({"kind", "auto"})


def cost_problems(models: Mapping[str, _Alias]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Where the ``auto`` and ``context`` sections of ``models`` are wrong: (path, message)."""
    for name, a in models.items():
        if a.kind == "auto":
            if a.auto is None:
                yield ("models", name, "auto"), ("an alias of kind auto needs an `auto` "
                                                 "section naming its cheap and strong aliases")
                continue
            extra = sorted(a.model_fields_set - AUTO_FIELDS)
            if extra:
                yield ("models", name, extra[0]), (
                    f"an alias of kind auto takes only `auto`: `{extra[0]}` belongs on the "
                    f"aliases it picks ({a.auto.cheap!r}, {a.auto.strong!r})")
            for role in ("cheap", "strong"):
                target = getattr(a.auto, role)
                picked = models.get(target)
                if picked is None or picked.kind != "chat":
                    yield ("models", name, "auto", role), (
                        f"{role} must name an alias of kind chat under models; {target!r} "
                        "is " + ("not configured" if picked is None else f"of kind {picked.kind}"))
            if a.auto.cheap == a.auto.strong:
                yield ("models", name, "auto", "strong"), "cheap and strong name the same alias"
        elif a.auto is not None:
            yield ("models", name, "auto"), "`auto` belongs on an alias of kind auto"
        ctx = a.context
        if ctx is not None and a.kind == "chat" and ctx.summarize_with is not None:
            helper = models.get(ctx.summarize_with)
            if helper is None or helper.kind != "chat":
                yield ("models", name, "context", "summarize_with"), (
                    f"summarize_with must name an alias of kind chat; {ctx.summarize_with!r} is "
                    + ("not configured" if helper is None else f"of kind {helper.kind}"))
        if ctx is not None and a.kind == "embeddings":
            yield ("models", name, "context"), "a context budget applies to chat aliases only"
