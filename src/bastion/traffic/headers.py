"""OpenAI-style ``x-ratelimit-*`` response headers from a client reservation.

The tightest request window and the tightest token window among the key's,
user's and team's limits are reported (``limit``, ``remaining`` after this
request, and ``reset``: when the oldest counted request leaves the window, in
OpenAI's duration format such as ``1s``, ``6m0s`` or ``20ms``).
"""

from __future__ import annotations

from bastion.traffic.ledger import Charge, Verdict


def duration(ms: int) -> str:
    """``ms`` in OpenAI's header format: ``20ms``, ``1s``, ``1.5s``, ``6m0s``, ``1h2m3s``."""
    ms = max(0, ms)
    if ms < 1000:
        return f"{ms}ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.3g}s" if s < 10 else f"{round(s)}s"
    total = round(s)
    h, rest = divmod(total, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m}m{sec}s" if h else f"{m}m{sec}s"


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
