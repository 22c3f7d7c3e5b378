"""How sure the model was of an answer: a score in [0, 1] and the signals behind it.

**From log probabilities** (when the provider returns them; the review step asks for
them when an alias's policy needs them): over the answer's *content tokens* —
every entry of ``choices[].logprobs.content`` whose token is not only whitespace —
each token's probability is ``exp(logprob)``; the answer's ``mean`` is their
arithmetic mean and ``minimum`` the smallest one. The score starts at ``mean``.

**Other signals** (with or without log probabilities), each capping the score:

=====================  =====  ==========================================================
signal                 cap    when
=====================  =====  ==========================================================
``refusal``            0.3    the model refused (``message.refusal``, or the answer opens
                              with "I'm sorry, but I can't…", "As an AI…", …)
``hedging``            0.5    the answer says it is unsure ("I'm not sure", "I don't know",
                              "may not be accurate", …)
``schema_repair``      0.5    the answer failed its JSON schema and was repaired
``moderation_near``    0.5    the local harmful-content detector scored it within reach of
                              its threshold (``SUSPICION`` of it) without reaching it
``truncated``          0.5    the answer was cut at the output limit (``finish_reason:
                              length``)
=====================  =====  ==========================================================

``score = min(mean or 1.0, caps…)``. Without log probabilities and without any
signal there is nothing to judge by: ``score`` is ``None`` and the answer is not
held for low confidence (an alias that must always be reviewed sets ``always``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bastion.core.types import ChatResponse

CAPS: dict[str, float] = {"refusal": 0.3, "hedging": 0.5, "schema_repair": 0.5,
                          "moderation_near": 0.5, "truncated": 0.5}
_REFUSAL = re.compile(
    r"^\W*(?:I['\u2019]m sorry|I am sorry|I apologi[sz]e|Sorry, (?:but )?I|"
    r"I (?:can(?:no|['\u2019])t|am unable to|['\u2019]m unable to|won['\u2019]t) "
    r"(?:help|assist|provide|answer|do|comply|share)|As an AI\b)",
    re.IGNORECASE)
_HEDGING = re.compile(
    r"\b(?:I['\u2019]m not (?:sure|certain)|I am not (?:sure|certain)|I don['\u2019]t know|"
    r"I do not know|I cannot be (?:sure|certain)|(?:may|might) not be (?:accurate|correct)|"
    r"I might be wrong|I['\u2019]m unsure|I am unsure|not entirely sure)\b",
    re.IGNORECASE)
_OPENING = 300  # characters of an answer where a refusal is looked for


@dataclass(frozen=True, slots=True)
class Confidence:
    """An answer's confidence (see the module docstring)."""

    score: float | None
    mean: float | None = None
    minimum: float | None = None
    tokens: int = 0
    signals: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        if self.mean is not None:
            return "logprobs"
        return "signals" if self.signals else "none"

    def header(self) -> str:
        """The ``x-bastion-confidence`` value: the score with 3 decimals, or ``unknown``."""
        return "unknown" if self.score is None else f"{self.score:.3f}"

    def as_dict(self) -> dict[str, Any]:
        return {"score": _r(self.score), "mean": _r(self.mean), "min": _r(self.minimum),
                "tokens": self.tokens, "signals": list(self.signals), "source": self.source}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def token_probabilities(resp: ChatResponse) -> list[float]:
    """The probability of each content token of every choice, in order."""
    out: list[float] = []
    for choice in resp.choices:
        lp = choice.logprobs
        entries = lp.get("content") if isinstance(lp, Mapping) else None
        if not isinstance(entries, list):
            continue
        for e in entries:
            if not isinstance(e, Mapping):
                continue
            token, logprob = e.get("token"), e.get("logprob")
            if not isinstance(logprob, int | float) or isinstance(logprob, bool):
                continue
            if isinstance(token, str) and not token.strip():
                continue
            out.append(math.exp(min(0.0, float(logprob))))
    return out


def text_signals(resp: ChatResponse) -> list[str]:
    """Signals read from the answer itself: refusal, hedging, truncated."""
    found: list[str] = []
    for choice in resp.choices:
        msg = choice.message
        text = msg.text()
        if msg.refusal or _REFUSAL.search(text[:_OPENING]):
            found.append("refusal")
        if _HEDGING.search(text):
            found.append("hedging")
        if choice.finish_reason == "length":
            found.append("truncated")
    return found


def score(probabilities: list[float], signals: Iterable[str]) -> Confidence:
    """The confidence from token probabilities and signals (see the module docstring)."""
    sigs = tuple(dict.fromkeys(s for s in signals if s in CAPS))
    mean = sum(probabilities) / len(probabilities) if probabilities else None
    low = min(probabilities) if probabilities else None
    if mean is None and not sigs:
        return Confidence(None)
    value = min([mean if mean is not None else 1.0, *(CAPS[s] for s in sigs)])
    return Confidence(value, mean, low, len(probabilities), sigs)
