"""Routing settings (``models.X.routing``, ``sticky``, ``experiment``, a target's ``weight``
and ``capabilities``): the shape the issue names loads, and a setting that would do
nothing where it sits is refused with its path, its line and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.config.loader import ConfigError, load_settings

PROVIDERS = """\
providers:
  east: {type: openai, api_key: env:K}
  west: {type: openai, api_key: env:K}
"""


def load(tmp_path: Path, models: str) -> object:
    path = tmp_path / "b.yaml"
    path.write_text(PROVIDERS + "models:\n" + models)
    return load_settings(path, env={"K": "sk-test"})


def test_the_shape_of_the_issue_loads(tmp_path: Path) -> None:
    s = load(tmp_path, """\
  chat:
    routing: weighted
    sticky: none
    targets:
      - {target: east/gpt-4o-mini, weight: 3}
      - {target: west/gpt-4o-mini, weight: 1}
  ab:
    experiment: mini-vs-4o
    routing: weighted
    sticky: user
    targets: [east/gpt-4o-mini, {target: west/gpt-4o, capabilities: [tools, vision]}]
""")
    chat = s.models["chat"]  # type: ignore[attr-defined]
    assert (chat.routing, chat.sticky, [t.weight for t in chat.targets]) == (
        "weighted", "none", [3, 1])
    assert s.models["ab"].targets[1].capabilities == ["tools", "vision"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("models", "path", "line", "words"), [
    ("  chat:\n    targets:\n      - {target: east/m, weight: 2}\n",
     "models.chat.targets.0.weight", 7, "only matters with `routing: weighted`"),
    ("  chat:\n    routing: weighted\n    targets:\n      - {target: east/m, weight: 0}\n",
     "models.chat.targets", 7, "weight above 0"),
    ("  chat:\n    routing: fastest\n    targets: [east/m]\n",
     "models.chat.routing", 6, "'ordered', 'weighted', 'least_busy', 'latency' or 'headroom'"),
    ("  chat:\n    sticky: session\n    targets: [east/m]\n",
     "models.chat.sticky", 6, "'none', 'user' or 'conversation'"),
    ("  emb:\n    kind: embeddings\n    sticky: conversation\n    targets: [east/e]\n",
     "models.emb.sticky", 7, "no conversation"),
    ("  emb:\n    kind: embeddings\n    targets: [{target: east/e, capabilities: [tools]}]\n",
     "models.emb.targets.0.capabilities", 7, "chat aliases only"),
    ("  chat:\n    targets: [{target: east/m, capabilities: [telepathy]}]\n",
     "models.chat.targets.0.capabilities.0", 6, "'tools'"),
    ("  chat:\n    routing: least_busy\n    targets: [east/m, east/m]\n",
     "models.chat.targets", 7, "listed twice"),
    ("  chat:\n    experiment: ab\n    targets: [east/m, west/m]\n",
     "models.chat.routing", 5, "set `routing: weighted`"),
    ("  chat:\n    experiment: ab\n    routing: weighted\n    targets: [east/m]\n",
     "models.chat.targets", 8, "at least two targets"),
    ("  chat:\n    experiment: 'a b'\n    routing: weighted\n    targets: [east/m, west/m]\n",
     "models.chat.experiment", 6, "should match pattern"),
])
def test_settings_that_would_do_nothing_are_refused(
    tmp_path: Path, models: str, path: str, line: int, words: str,
) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, models)
    [p] = e.value.problems
    assert p.path == path
    assert words in p.message
    assert p.line is not None
    assert p.line == line, p
