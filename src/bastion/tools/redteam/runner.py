"""Sending the suite: bounded concurrency, a time-out per case, a progress bar.

Each case is one ``POST {base_url}/chat/completions`` with the key as a Bearer
token. Failures of one case (time-out, refused connection, a non-JSON answer)
become an ``error`` outcome; the run goes on.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

import aiohttp

from bastion.tools.redteam.cases import Case
from bastion.tools.redteam.judge import Verdict, judge


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    verdict: Verdict
    status: int
    latency_ms: float


class Progress:
    """A one-line progress bar on a terminal; a line every 10 % elsewhere."""

    def __init__(self, total: int, out: TextIO | None = None, width: int = 30) -> None:
        self.total = max(1, total)
        self.out = out if out is not None else sys.stderr
        self.width = width
        self.done = 0
        self.tty = self.out.isatty()
        self._last_decile = -1

    def step(self) -> None:
        self.done += 1
        frac = self.done / self.total
        if self.tty:
            filled = int(frac * self.width)
            self.out.write(f"\rredteam [{'#' * filled}{'.' * (self.width - filled)}] "
                           f"{self.done}/{self.total} {frac:4.0%}")
            if self.done >= self.total:
                self.out.write("\n")
            self.out.flush()
        elif int(frac * 10) != self._last_decile:
            self._last_decile = int(frac * 10)
            self.out.write(f"redteam {self.done}/{self.total} ({frac:.0%})\n")
            self.out.flush()


async def _one(session: aiohttp.ClientSession, url: str, model: str, case: Case,
               timeout_s: float) -> Result:
    start = time.perf_counter()
    try:
        async with session.post(url, json=case.body(model),
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Result(case, Verdict("error", False, type(exc).__name__), 0,
                      (time.perf_counter() - start) * 1000)
    return Result(case, judge(case, status, body), status, (time.perf_counter() - start) * 1000)


async def run(cases: Sequence[Case], base_url: str, key: str, model: str, *,
              concurrency: int = 4, timeout_s: float = 60.0,
              on_done: Callable[[], None] | None = None) -> list[Result]:
    """Every case against ``base_url`` (an OpenAI-style ``/v1`` root), in order of ``cases``."""
    url = base_url.rstrip("/") + "/chat/completions"
    sem = asyncio.Semaphore(max(1, concurrency))
    headers = {"Authorization": f"Bearer {key}"}

    async with aiohttp.ClientSession(headers=headers) as session:
        async def guarded(case: Case) -> Result:
            async with sem:
                result = await _one(session, url, model, case, timeout_s)
            if on_done is not None:
                on_done()
            return result

        return list(await asyncio.gather(*(guarded(c) for c in cases)))
