"""The detection engine: one pass per literal prefix, keyword-gated context rules.

Contract of :func:`scan_buffer`: given the raw bytes of one text buffer, return
the detections sorted by offset, at most one per span, format-specific
detectors taking precedence over contextual ones and those over generic ones.
"""

from __future__ import annotations

from .buffer import BufferView
from .contextual import scan_context, scan_generic
from .detectors import Match, scan_prefixed
from .variables import scan_variables

_PRIORITY = {"generic-secret": 2}
_CONTEXT_IDS = frozenset({"mistral-api-key", "cohere-api-key", "azure-openai-key"})


def _rank(m: Match) -> int:
    if m.detector in _PRIORITY:
        return _PRIORITY[m.detector]
    return 1 if m.detector in _CONTEXT_IDS else 0


def scan_buffer(data: bytes, segments: list[int] | None = None) -> list[Match]:
    """Detect secrets in ``data`` (bytes of a text file or of extracted strings).

    ``segments`` lists start offsets of separate files packed into ``data``
    (newline-separated); context rules then never look across files.
    """
    view = BufferView(data, segments)
    found = scan_prefixed(view)
    found.extend(scan_context(view))
    found.extend(scan_variables(view))
    found.extend(scan_generic(view))
    if len(found) <= 1:
        return found
    found.sort(key=lambda m: (_rank(m), m.start))
    kept: list[Match] = []
    for cand in found:
        if any(cand.start < k.end and k.start < cand.end for k in kept):
            continue
        if _rank(cand) and any(cand.secret in k.secret for k in kept if not _rank(k)):
            continue
        kept.append(cand)
    kept.sort(key=lambda k: k.start)
    return kept


class Locator:
    """Converts byte offsets of one buffer into 1-based (line, column) pairs.

    Columns count characters (UTF-8 decoded), not bytes.
    """

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def locate(self, offset: int) -> tuple[int, int]:
        """Return ``(line, column)`` of ``offset``."""
        data = self._data
        line = data.count(b"\n", 0, offset) + 1
        line_start = data.rfind(b"\n", 0, offset) + 1
        column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
        return line, column
