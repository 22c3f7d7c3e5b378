"""System-prompt leaks: the canary token, and long runs of words shared with the prompt.

The prompt is cut into overlapping runs of ``min_words`` words (lower-cased,
punctuation ignored); an answer leaks when it holds one of those runs, or the
canary token (also when the model spaces it out or wraps it in zero-width
characters). Prompts shorter than ``min_words`` words (but at least four) leak
when the answer holds them whole. Built prompts are cached (bounded), so a
server-side template costs its cut once, not once per request.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bastion.guards.output.base import Finding

_WORD_RE = re.compile(r"\w+")
_GAPS_RE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff\u00ad_\-.*`'\"]+")
MIN_PROMPT_WORDS = 4
MAX_GAPPED_CHARS = 256 * 1024  # the spaced-out canary is looked for in answers up to this


_Runs = tuple[int, frozenset[tuple[str, ...]], tuple[str, ...], dict[str, tuple[int, ...]]]
_MAX_POSITIONS = 64


@lru_cache(maxsize=256)
def _runs(text: str, k: int) -> _Runs:
    words = tuple(w.casefold() for w in _WORD_RE.findall(text))
    if len(words) < MIN_PROMPT_WORDS:
        return 0, frozenset(), (), {}
    k = min(k, len(words))
    positions: dict[str, list[int]] = {}
    for i, w in enumerate(words):
        positions.setdefault(w, []).append(i)
    return (k, frozenset(words[i:i + k] for i in range(len(words) - k + 1)), words,
            {w: tuple(p[:_MAX_POSITIONS]) for w, p in positions.items()})


class LeakDetector:
    """Finds the system prompt (or its canary) in answer text. Pure; safe to share."""

    __slots__ = ("_canary", "_canary_low", "_k", "_positions", "_runs", "_words")

    def __init__(self, prompt: str, canary: str = "", min_words: int = 10) -> None:
        self._k, self._runs, self._words, self._positions = _runs(
            prompt, max(MIN_PROMPT_WORDS, min_words))
        self._canary = canary
        self._canary_low = _GAPS_RE.sub("", canary).casefold()

    @property
    def active(self) -> bool:
        return bool(self._runs or self._canary)

    @property
    def span_chars(self) -> int:
        """About how many characters a detectable leak needs (for hold-back windows)."""
        return max(len(self._canary) * 3, self._k * 12)

    def pending(self, text: str) -> int:
        """How many trailing characters of ``text`` could start a leak still to come: the
        longest run of its last words (fewer than the run length) found in the prompt."""
        if not self._runs:
            return 0
        k = self._k
        matches = list(_WORD_RE.finditer(text, max(0, len(text) - 24 * k)))
        if matches and matches[-1].end() == len(text):
            matches.pop()  # a word still being written: judged with what precedes it
        matches = matches[-(k - 1):]
        if not matches:
            return 0
        words = [m.group().casefold() for m in matches]
        best = 0
        for p in self._positions.get(words[-1], ()):
            n = 1
            while n < len(words) and p - n >= 0 and self._words[p - n] == words[-1 - n]:
                n += 1
            best = max(best, n)
        if not best:
            return 0
        return len(text) - matches[-best].start()

    def scan(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        if self._canary:
            at = text.find(self._canary)
            if at >= 0:
                out.append(Finding("leak", "canary", 1.0, at, at + len(self._canary)))
            elif (len(self._canary_low) >= 6 and len(text) <= MAX_GAPPED_CHARS
                  and self._canary_low in _GAPS_RE.sub("", text).casefold()):
                out.append(Finding("leak", "canary", 1.0, 0, len(text), "obfuscated"))
        if self._runs:
            hit = self._overlap(text)
            if hit is not None:
                out.append(hit)
        return out

    def _overlap(self, text: str) -> Finding | None:
        k = self._k
        words = _WORD_RE.findall(text.casefold())
        runs, positions = self._runs, self._positions
        for i in range(len(words) - k + 1):
            if words[i] in positions and tuple(words[i:i + k]) in runs:
                # found: now (rarely) work out where it sits in the text
                spans = [m.span() for m in _WORD_RE.finditer(text)]
                if len(spans) != len(words):  # casefolding changed the word count
                    return Finding("leak", "overlap", 1.0, 0, len(text), f"{k} words")
                return Finding("leak", "overlap", 1.0, spans[i][0], spans[i + k - 1][1],
                               f"{k} words of the system prompt")
        return None
