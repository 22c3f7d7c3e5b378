"""Settings of routing across an alias's targets (see ``docs/routing.md``).

They sit on the alias and its targets, in the shape users write::

    models:
      chat:
        routing: weighted            # ordered | weighted | least_busy | latency | headroom
        sticky: conversation         # none | user | conversation
        experiment: mini-vs-haiku    # optional: record the arm (the first-choice target)
        targets:
          - {target: east/gpt-4o-mini, weight: 3}
          - {target: west/gpt-4o-mini, weight: 1, capabilities: [tools]}

:func:`routing_problem` is the cross-field check the alias runs: a setting that
would do nothing in its place is refused, with the reason, instead of ignored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, Protocol

RoutingStrategy = Literal["ordered", "weighted", "least_busy", "latency", "headroom"]
StickyMode = Literal["none", "user", "conversation"]
# What a request may need from a model; a target that lists ``capabilities`` serves only
# requests whose needs are all in its list (a target without the list serves everything).
Capability = Literal["tools", "vision", "audio", "json", "logprobs"]

EXPERIMENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"

Problem = tuple[tuple[str | int, ...], str]


class _Target(Protocol):
    @property
    def target(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def capabilities(self) -> list[Capability] | None: ...


def _problems(routing: str, sticky: str, experiment: str | None, kind: str,
              targets: Sequence[_Target]) -> Iterator[Problem]:
    weighs = routing == "weighted" or sticky != "none"
    for i, t in enumerate(targets):
        if t.weight != 1 and not weighs:
            yield (("targets", i, "weight"),
                   "a weight only matters with `routing: weighted` or `sticky: user` / "
                   "`sticky: conversation`; set one of them or remove the weight")
        if t.capabilities is not None and kind != "chat":
            yield (("targets", i, "capabilities"),
                   "capabilities apply to chat aliases only; remove them here")
    if weighs and not any(t.weight > 0 for t in targets):
        yield (("targets",), "give at least one target a weight above 0")
    if sticky == "conversation" and kind != "chat":
        yield (("sticky",), "an embeddings alias has no conversation to keep together; "
                            "use `sticky: user` or `none`")
    names = [t.target for t in targets]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None and (routing != "ordered" or sticky != "none"):
        yield (("targets",), f"{dup!r} is listed twice; routing counts each target once")
    if experiment is not None and routing != "weighted":
        yield (("routing",), "an experiment splits traffic by weight: set `routing: "
                             "weighted` (and `sticky: user` to keep each user in one arm)")
    if experiment is not None and len(targets) < 2:
        yield (("targets",), "an experiment needs at least two targets (its arms)")


def routing_problem(routing: str, sticky: str, experiment: str | None, kind: str,
                    targets: Sequence[_Target]) -> Problem | None:
    """``(where, why)`` of the first setting that would do nothing, else ``None``."""
    return next(_problems(routing, sticky, experiment, kind, targets), None)
