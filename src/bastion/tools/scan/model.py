"""Finding model: what the scanner reports, how it is masked and fingerprinted.

Contract: a :class:`Finding` carries the full secret (needed for baselines and
``--show-secrets``) but its ``repr`` and every serialisation helper hide it
unless explicitly asked; the mask never reveals more than a known prefix (or a
quarter of the value, at most four characters) plus the last four characters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ELLIPSIS = "\u2026"


class Confidence(StrEnum):
    """How sure a detector is that a match is a live credential."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def fingerprint(detector: str, secret: str) -> str:
    """Return the stable identity of a finding: ``sha256(detector + ":" + secret)`` in hex.

    The secret itself is never stored in a baseline; only this digest is.
    """
    return hashlib.sha256(f"{detector}:{secret}".encode()).hexdigest()


def mask(secret: str, prefix: str = "") -> str:
    """Mask ``secret`` as ``prefix + "…" + last 4``.

    ``prefix`` is shown only when the secret really starts with it (it is the
    public, format-identifying part of a key). Without a known prefix at most
    ``len // 4`` (capped at 4) leading characters are kept. Short values show
    fewer trailing characters so that at most a third of them is revealed.
    """
    if not secret:
        return ""
    n = len(secret)
    tail = 4 if n >= 16 else (2 if n >= 8 else 0)
    head = prefix if prefix and secret.startswith(prefix) and len(prefix) <= n // 2 else ""
    if not head:
        head = secret[: min(4, n // 4)] if n >= 16 else ""
    return f"{head}{ELLIPSIS}{secret[n - tail:] if tail else ''}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One leaked-credential finding.

    ``path`` is the display path; members of archives are joined with ``!``
    (``app.apk!res/values/strings.xml``). ``line`` and ``column`` are 1-based;
    for binary content ``line`` is 1 and ``column`` is the byte offset + 1.
    ``commit``/``present_at_head`` are set only by history scans.
    """

    detector: str
    title: str
    confidence: Confidence
    path: str
    line: int
    column: int
    secret: str = field(repr=False)
    fingerprint: str
    mask_prefix: str = field(default="", repr=False)
    commit: str | None = None
    present_at_head: bool | None = None
    note: str = ""

    @property
    def masked(self) -> str:
        """The redacted form of the secret, safe to print."""
        return mask(self.secret, self.mask_prefix)

    @property
    def location(self) -> str:
        """``path:line:column`` for humans."""
        return f"{self.path}:{self.line}:{self.column}"

    def to_dict(self, *, show_secret: bool = False) -> dict[str, Any]:
        """JSON-ready mapping; contains the full secret only when ``show_secret``."""
        out: dict[str, Any] = {
            "detector": self.detector,
            "title": self.title,
            "confidence": self.confidence.value,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "masked": self.masked,
            "fingerprint": self.fingerprint,
        }
        if self.commit is not None:
            out["commit"] = self.commit
            out["present_at_head"] = self.present_at_head
        if self.note:
            out["note"] = self.note
        if show_secret:
            out["secret"] = self.secret
        return out
