"""Hidden and encoded segments: what a model can read but a filter would miss.

:func:`hidden_segments` returns the texts an attacker can hide inside a prompt or a
document, each with its kind, so the detectors scan them as well:

* ``base64`` / ``base32``-free ``hex`` / ``url`` (percent-encoding) / ``entities``
  (HTML character references) segments that decode to readable text;
* ``rot13`` and ``reversed`` text, tried only when the transformed text holds words
  that instructions use (cheap: one regex search each);
* ``comment``: text in HTML comments and Markdown link-reference comments, which a
  rendered page hides from a person but a model reads.

Decoded text may itself be encoded: callers recurse through :func:`hidden_segments`
up to a depth they choose. Work is bounded: at most :data:`MAX_SEGMENTS` segments and
:data:`MAX_DECODED` characters per call, whatever the input holds.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from urllib.parse import unquote

MAX_SEGMENTS = 16
MAX_DECODED = 65_536
_MIN_B64 = 16

_B64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?:(?:\\x|0x|%)?[0-9a-fA-F]{2}[ :,]?){8,}")
_URLENC = re.compile(r"(?:%[0-9a-fA-F]{2}[^%\s]{0,3}){4,}")
_ENTITIES = re.compile(r"(?:&#x?[0-9a-fA-F]{1,6};\s?){4,}")
_COMMENT = re.compile(r"<!--(.*?)(?:-->|$)|^\s*\[[^\]]*\]:\s*#\s*\((.*?)\)\s*$",
                      re.DOTALL | re.MULTILINE)
# Words that instructions use, in the transformed text: a cheap gate before ROT13 and
# reversal are taken seriously.
_CUE = re.compile(r"\b(?:ignore|instructions?|previous|system|prompt|disregard|forget|"
                  r"reveal|password|secret|override|pretend|bypass|jailbreak|you are|"
                  r"act as|pwned|execute|respond|say)\b")
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZabcdefghijklm")
_PRINTABLE_MIN = 0.85


def _readable(raw: bytes) -> str | None:
    """``raw`` as text when it looks like text a model would read, else ``None``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 4:
        return None
    good = sum(1 for c in text if c.isprintable() or c in "\n\t\r")
    letters = sum(1 for c in text if c.isalpha())
    if good < _PRINTABLE_MIN * len(text) or letters < 0.4 * len(text):
        return None
    return text


def _b64(s: str) -> str | None:
    if s.isdigit() or s.isalpha() and (s.islower() or s.isupper()):
        return None  # a word, a number or an identifier, not base64
    pad = "=" * (-len(s.rstrip("=")) % 4)
    try:
        raw = base64.b64decode(s.rstrip("=") + pad, altchars=b"-_" if "-" in s or "_" in s
                               else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _readable(raw)


def _hex(s: str) -> str | None:
    digits = re.sub(r"\\x|0x|%|[ :,]", "", s)
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return None
    return _readable(raw)


def hidden_segments(text: str, lowered: str) -> list[tuple[str, str]]:
    """Segments hidden in ``text`` (``lowered`` is its normalised form), as
    ``(kind, decoded text)``; see the module docstring."""
    out: list[tuple[str, str]] = []
    budget = MAX_DECODED

    def add(kind: str, value: str | None) -> bool:
        nonlocal budget
        if value is None or not value.strip():
            return True
        value = value[:budget]
        budget -= len(value)
        out.append((kind, value))
        return budget > 0 and len(out) < MAX_SEGMENTS

    if "<!--" in text or "]:" in text:
        for m in _COMMENT.finditer(text):
            if not add("comment", m.group(1) or m.group(2)):
                return out
    if len(text) >= _MIN_B64:
        for m in _B64.finditer(text):
            if not add("base64", _b64(m.group())):
                return out
        for m in _HEX.finditer(text):
            if not add("hex", _hex(m.group())):
                return out
    if "%" in text:
        for m in _URLENC.finditer(text):
            if not add("url", unquote(m.group())):
                return out
    if "&#" in text:
        for m in _ENTITIES.finditer(text):
            if not add("entities", html.unescape(m.group())):
                return out
    if not _CUE.search(lowered):
        rot = lowered.translate(_ROT13)
        if _CUE.search(rot):
            add("rot13", rot)
        else:
            rev = lowered[::-1]
            if _CUE.search(rev):
                add("reversed", rev)
    return out
