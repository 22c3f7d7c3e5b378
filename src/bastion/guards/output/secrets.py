"""Secrets and provider keys in answers, found with ``bastion scan``'s detectors.

The same engine that scans repositories (format rules, keys near a vendor's
name, keys named by their variable, generic ``NAME = value`` secrets) runs over
the answer's text; each detection carries the detector's confidence, and only
detections at or above ``min_confidence`` count.
"""

from __future__ import annotations

from typing import Literal

from bastion.guards.output.base import Finding
from bastion.tools.scan.engine import scan_buffer
from bastion.tools.scan.model import Confidence
from bastion.tools.scan.registry import DETECTORS

ConfidenceName = Literal["high", "medium", "low"]
_RANK = {"high": 0, "medium": 1, "low": 2}
# The longest key format the scanner knows (``sk-`` bodies up to 300 characters).
MAX_SECRET_CHARS = 320


def _char_offset(data: bytes, byte_offset: int) -> int:
    return len(data[:byte_offset].decode("utf-8", "ignore"))


def find_secrets(text: str, min_confidence: ConfidenceName = "medium") -> list[Finding]:
    """Secrets in ``text`` at or above ``min_confidence`` (spans in characters)."""
    data = text.encode("utf-8")
    limit = _RANK[min_confidence]
    out: list[Finding] = []
    for m in scan_buffer(data):
        info = DETECTORS.get(m.detector)
        confidence = info.confidence if info is not None else Confidence.LOW
        if _RANK[confidence.value] > limit:
            continue
        start = _char_offset(data, m.start) if not text.isascii() else m.start
        end = start + (m.end - m.start if text.isascii() else len(
            data[m.start:m.end].decode("utf-8", "ignore")))
        out.append(Finding("secret", m.detector, 1.0, start, end, confidence.value))
    return out
