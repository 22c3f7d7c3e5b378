"""A read-only view over one scanned buffer with line-aware helpers.

Offsets are byte offsets into ``data``. ``low`` is the ASCII-lowercased copy
used for case-insensitive keyword search, computed once on first use.
"""

from __future__ import annotations

from bisect import bisect_right

_TOKEN_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = frozenset(b"ntr")
_BACKSLASH = ord("\\")


def bounded(data: bytes, start: int, end: int, chars: frozenset[int] = _TOKEN_CHARS) -> bool:
    """True when ``data[start:end]`` is not glued to other token characters.

    A preceding JSON/C escape (``\\n``, ``\\t``, ``\\r``) counts as a boundary,
    so keys embedded in source maps and notebooks are still recognised.
    """
    if start > 0:
        prev = data[start - 1]
        if prev in chars and not (
            prev in _ESCAPES and start >= 2 and data[start - 2] == _BACKSLASH
        ):
            return False
    return not (end < len(data) and data[end] in chars)


class BufferView:
    """Helpers to reason about neighbourhoods of an offset in a buffer."""

    __slots__ = ("_low", "data", "segments")

    def __init__(self, data: bytes, segments: list[int] | None = None) -> None:
        """``segments``: sorted start offsets of independent files packed into ``data``;
        neighbourhoods never cross a segment boundary."""
        self.data = data
        self.segments = segments
        self._low: bytes | None = None

    def _segment(self, pos: int) -> tuple[int, int]:
        if not self.segments:
            return 0, len(self.data)
        i = bisect_right(self.segments, pos) - 1
        start = self.segments[i] if i >= 0 else 0
        end = self.segments[i + 1] if i + 1 < len(self.segments) else len(self.data)
        return start, end

    @property
    def low(self) -> bytes:
        """ASCII-lowercased copy of the buffer."""
        if self._low is None:
            self._low = self.data.lower()
        return self._low

    def line_bounds(self, pos: int) -> tuple[int, int]:
        """``(start, end)`` of the line holding ``pos`` (end excludes the newline)."""
        start = self.data.rfind(b"\n", 0, pos) + 1
        end = self.data.find(b"\n", pos)
        return start, (len(self.data) if end == -1 else end)

    def line_text(self, pos: int, limit: int = 400) -> str:
        """The line around ``pos``, clipped to ``limit`` bytes each side, as text."""
        start, end = self.line_bounds(pos)
        start = max(start, pos - limit)
        end = min(end, pos + limit)
        return self.data[start:end].decode("utf-8", "replace")

    def window(self, pos: int, *, lines: int, chars: int) -> tuple[int, int]:
        """Offsets spanning ``lines`` lines around ``pos``, capped at ``chars`` each side."""
        data = self.data
        seg_lo, seg_hi = self._segment(pos)
        lo_limit = max(seg_lo, pos - chars)
        lo = pos
        for _ in range(lines + 1):
            j = data.rfind(b"\n", lo_limit, lo)
            if j == -1:
                lo = lo_limit
                break
            lo = j
        hi_limit = min(seg_hi, pos + chars)
        hi = pos
        for _ in range(lines + 1):
            j = data.find(b"\n", hi + 1, hi_limit)
            if j == -1:
                hi = hi_limit
                break
            hi = j
        return lo, hi

    def near(self, pos: int, keywords: tuple[bytes, ...], *, lines: int, chars: int) -> bool:
        """True when one of the lowercase ``keywords`` occurs near ``pos``."""
        lo, hi = self.window(pos, lines=lines, chars=chars)
        low = self.low
        return any(low.find(k, lo, hi) != -1 for k in keywords)
