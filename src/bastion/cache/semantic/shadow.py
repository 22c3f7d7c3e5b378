"""Shadow verification: keep a semantic cache inside its error budget, online.

In the spirit of vCache (ICLR 2026): on a sample (``shadow_rate``) of semantic
hits, the cache step also asks the provider in the background (the client has
its cached answer already) and compares the two answers:

* they agree → the entry's acceptance threshold is loosened a little (never
  more than :data:`LOOSEN_MAX` below the alias's);
* they disagree → the hit was wrong: that entry's threshold is raised above the
  score it was served at (a same-words hit that was wrong is never served
  semantically again), and the wrong answer is counted.

The observed wrong-answer rate (wrong / checked) is exported per alias
(``bastion_cache_semantic_wrong_rate``, with the checks and wrong counts). Once
:data:`MIN_CHECKS` checks exist and the observed rate exceeds the alias's
``max_wrong_rate``, the alias's own threshold is raised by
:data:`BUDGET_STEP` (and lowered again, never below where it started, while the
rate is back within budget), so the budget holds even where the shipped
calibration does not fit the traffic.

Two answers *agree* when they are equal after case and spacing, or when their
numbers, names and negations are the same and they share at least half of
their content words. Shadow calls cost provider tokens (not charged to the
client) and are never streamed to anyone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge

from bastion.cache.semantic.structure import compare
from bastion.cache.semantic.text import analyse
from bastion.core.context import Context
from bastion.core.errors import GatewayError
from bastion.core.types import ChatResponse

if TYPE_CHECKING:
    from bastion.cache.semantic.store import VectorStore
    from bastion.core.pipeline import Next

LOOSEN_STEP = 0.01
LOOSEN_MAX = 0.05
TIGHTEN_MARGIN = 0.05
MIN_CHECKS = 20
BUDGET_STEP = 0.05
ANSWER_CHARS = 4000
SHADOW_TIMEOUT_S = 120.0
_ANSWER_VETOES = frozenset({"negation", "number", "exact"})


def answer_text(resp: ChatResponse) -> str:
    if not resp.choices:
        return ""
    return resp.choices[0].message.text()


def answers_agree(cached: str, fresh: str) -> bool:
    """Whether two answers say the same (see the module docstring)."""
    if " ".join(cached.lower().split()) == " ".join(fresh.lower().split()):
        return True
    a, b = analyse(cached[:ANSWER_CHARS]), analyse(fresh[:ANSWER_CHARS])
    view = compare(a, b)
    if _ANSWER_VETOES.intersection(view.vetoes):
        return False
    total = view.content_a + view.content_b
    unmatched = len(view.unmatched_a) + len(view.unmatched_b)
    return total == 0 or unmatched <= total / 2


@dataclass(slots=True)
class ShadowStats:
    """What one alias's shadow checks found (read by metrics and the admin API)."""

    checks: int = 0
    wrong: int = 0

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.checks if self.checks else 0.0


@dataclass
class Shadow:
    """One alias's shadow verification (see the module docstring)."""

    alias: str
    rate: float
    max_wrong_rate: float
    base_threshold: float
    store: VectorStore
    on_result: Callable[[str, ShadowStats], None] | None = None
    stats: ShadowStats = field(default_factory=ShadowStats)
    rng: random.Random = field(default_factory=random.Random)
    threshold: float = 0.0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.threshold = self.base_threshold

    def wanted(self) -> bool:
        return self.rate > 0 and self.rng.random() < self.rate

    def start(self, ctx: Context, route: Next, partition: str, entry_key: str,
              score: float, entry_threshold: float | None, cached: ChatResponse) -> None:
        """Check this hit in the background (the caller already answered)."""
        task = asyncio.get_running_loop().create_task(
            self._check(ctx, route, partition, entry_key, score, entry_threshold, cached))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, ctx: Context, route: Next, partition: str, entry_key: str,
                     score: float, entry_threshold: float | None, cached: ChatResponse) -> None:
        sub = Context(request=msgspec.structs.replace(ctx.chat, stream=False, stream_options=None),
                      request_id=ctx.request_id + "-shadow", dialect=ctx.dialect, kind="chat",
                      headers={}, identity=ctx.identity)
        try:
            async with asyncio.timeout(SHADOW_TIMEOUT_S):
                reply = await route(sub)
        except (GatewayError, TimeoutError):
            return  # no answer to compare with: nothing learned
        if not isinstance(reply.response, ChatResponse):
            return
        agree = answers_agree(answer_text(cached), answer_text(reply.response))
        await self.learn(partition, entry_key, score, entry_threshold, agree)

    async def learn(self, partition: str, entry_key: str, score: float,
                    entry_threshold: float | None, agree: bool) -> None:
        """Record one comparison and move the entry's and the alias's thresholds."""
        self.stats.checks += 1
        current = entry_threshold if entry_threshold is not None else self.threshold
        if agree:
            new = max(self.base_threshold - LOOSEN_MAX, current - LOOSEN_STEP)
        else:
            self.stats.wrong += 1
            new = max(current, score + TIGHTEN_MARGIN)
        await self.store.set_threshold(partition, entry_key, new)
        if self.stats.checks >= MIN_CHECKS:
            if self.stats.wrong_rate > self.max_wrong_rate:
                self.threshold = min(1.0 + TIGHTEN_MARGIN, self.threshold + BUDGET_STEP)
            elif self.threshold > self.base_threshold:
                self.threshold = max(self.base_threshold, self.threshold - LOOSEN_STEP)
        if self.on_result is not None:
            self.on_result(self.alias, self.stats)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()


class ShadowMetrics:
    """``bastion_cache_semantic_checks``, ``…_wrong`` and ``…_wrong_rate`` per alias."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.checks = Counter("bastion_cache_semantic_checks",
                              "Semantic hits compared with a fresh answer (shadow)", ["alias"],
                              registry=registry)
        self.wrong = Counter("bastion_cache_semantic_wrong",
                             "Shadow-checked semantic hits whose answer differed", ["alias"],
                             registry=registry)
        self.wrong_rate = Gauge("bastion_cache_semantic_wrong_rate",
                                "Observed wrong-answer rate of semantic hits (shadow)", ["alias"],
                                registry=registry)
        self._seen: dict[str, tuple[int, int]] = {}

    def observe(self, alias: str, stats: ShadowStats) -> None:
        checks, wrong = self._seen.get(alias, (0, 0))
        self.checks.labels(alias).inc(stats.checks - checks)
        self.wrong.labels(alias).inc(stats.wrong - wrong)
        self.wrong_rate.labels(alias).set(stats.wrong_rate)
        self._seen[alias] = (stats.checks, stats.wrong)
