"""What an output check reports: a finding with the check, category, score and span."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason to stop (or flag) an answer.

    ``check`` is the family (``leak``, ``secret``, ``harmful``, ``schema``, ``tool``),
    ``category`` the specific reason (``canary``, ``overlap``, a detector id, a
    moderation category, …), ``score`` in [0, 1], ``start``/``end`` the span in the
    checked text (``-1`` when the finding has no span). ``detail`` is safe to log:
    it never holds the matched text itself.
    """

    check: str
    category: str
    score: float = 1.0
    start: int = -1
    end: int = -1
    detail: str = ""

    @property
    def reason(self) -> str:
        return f"{self.check}:{self.category}"
