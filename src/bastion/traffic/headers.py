"""OpenAI-style ``x-ratelimit-*`` response headers from a client reservation.

The tightest request window and the tightest token window among the key's,
user's and team's limits are reported (``limit``, ``remaining`` after this
request, and ``reset``: when the oldest counted request leaves the window). Every
``reset`` is in one format: seconds with up to three decimals and an ``s``
(``0.02s``, ``1.5s``, ``360s``), which parsers of OpenAI's duration format
(``20ms``, ``6m0s``) and plain ``float(value[:-1])`` both read.
"""

from __future__ import annotations

from bastion.traffic.ledger import Charge, Verdict


def duration(ms: int) -> str:
    """``ms`` as seconds: ``0s``, ``0.02s``, ``1.5s``, ``360s`` (see the module docstring)."""
    text = f"{max(0, ms) / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def ratelimit_headers(charges: list[Charge], v: Verdict) -> dict[str, str]:
    """The headers for a successful reservation (empty when no window applies)."""
    best: dict[str, tuple[int, int, int]] = {}
    for c, rem, reset in zip(charges, v.remaining, v.reset_ms, strict=True):
        if not c.windowed or c.unit not in ("requests", "tokens"):
            continue
        kind = "requests" if c.unit == "requests" else "tokens"
        have = best.get(kind)
        if have is None or rem < have[1]:
            best[kind] = (c.limit, rem, reset)
    out: dict[str, str] = {}
    for kind, (limit, rem, reset) in best.items():
        out[f"x-ratelimit-limit-{kind}"] = str(limit)
        out[f"x-ratelimit-remaining-{kind}"] = str(max(0, rem))
        out[f"x-ratelimit-reset-{kind}"] = duration(reset)
    return out
