"""The ``auto`` and ``context`` sections: what an operator gets wrong is named, with its path
and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bastion.config.loader import ConfigError, load_settings

BASE = """\
providers:
  oa: {type: openai_compatible, base_url: "http://127.0.0.1:9"}
models:
  small: {targets: [oa/gpt-4o-mini]}
  big: {targets: [oa/gpt-4o]}
  vectors: {targets: [oa/text-embedding-3-small], kind: embeddings}
"""


def load(tmp_path: Path, extra: str) -> Any:
    p = tmp_path / "b.yaml"
    p.write_text(BASE + extra)
    return load_settings(p, env={})


def problem(tmp_path: Path, extra: str) -> str:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, extra)
    return str(e.value.problems[0])


def test_a_valid_auto_alias_and_context_budget(tmp_path: Path) -> None:
    s = load(tmp_path, "  assistant: {kind: auto, auto: {cheap: small, strong: big}}\n"
                       "  long: {targets: [oa/gpt-4o], context: {max_prompt_tokens: 8000, "
                       "summarize_with: small}}\n")
    a = s.models["assistant"]
    assert a.targets == []
    assert a.auto.cheap == "small"
    assert a.auto.classifier is False
    assert s.models["long"].context.summary_max_tokens == 300


@pytest.mark.parametrize(("extra", "path", "says"), [
    ("  assistant: {kind: auto}\n", "models.assistant.auto", "needs an `auto` section"),
    ("  assistant: {kind: auto, auto: {cheap: small, strong: nope}}\n",
     "models.assistant.auto.strong", "'nope' is not configured"),
    ("  assistant: {kind: auto, auto: {cheap: vectors, strong: big}}\n",
     "models.assistant.auto.cheap", "of kind embeddings"),
    ("  assistant: {kind: auto, auto: {cheap: big, strong: big}}\n",
     "models.assistant.auto.strong", "the same alias"),
    ("  assistant: {kind: auto, auto: {cheap: small, strong: big}, targets: [oa/gpt-4o]}\n",
     "models.assistant.targets", "takes only `auto`"),
    ("  assistant: {kind: auto, auto: {cheap: small, strong: big}, "
     "context: {max_prompt_tokens: 900}}\n", "models.assistant.context", "takes only `auto`"),
    ("  other: {targets: [oa/gpt-4o], auto: {cheap: small, strong: big}}\n",
     "models.other.auto", "belongs on an alias of kind auto"),
    ("  a1: {kind: auto, auto: {cheap: small, strong: a2}}\n"
     "  a2: {kind: auto, auto: {cheap: small, strong: big}}\n",
     "models.a1.auto.strong", "of kind auto"),
    ("  long: {targets: [oa/gpt-4o], context: {max_prompt_tokens: 900, summarize_with: x}}\n",
     "models.long.context.summarize_with", "'x' is not configured"),
    ("  vectors2: {targets: [oa/e], kind: embeddings, context: {max_prompt_tokens: 900}}\n",
     "models.vectors2.context", "chat aliases only"),
    ("  long: {targets: [oa/gpt-4o], context: {max_prompt_tokens: 900, system_warn_share: 2}}\n",
     "models.long.context.system_warn_share", "less than or equal to 1"),
    ("  chat2: {}\n", "models.chat2.targets", "at least one target"),
])
def test_mistakes_are_named(tmp_path: Path, extra: str, path: str, says: str) -> None:
    text = problem(tmp_path, extra)
    assert path in text
    assert says in text
    assert text.startswith("line ")
