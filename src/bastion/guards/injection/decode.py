"""Hidden and encoded segments: what a model can read but a filter would miss.

:func:`hidden_segments` returns the texts an attacker can hide inside a prompt or a
document, each with its kind, so the detectors scan them as well:

* ``base64`` and ``hex`` (plain, ``\\x`` or ``0x``) runs, ``url`` (percent-encoding) and
  ``entities`` (HTML character references) segments that decode to readable text;
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
from collections.abc import Callable
from urllib.parse import unquote

MAX_SEGMENTS = 16
MAX_DECODED = 65_536
_MIN_B64 = 16

# Long runs without spaces or brackets: the only places base64 and hex can hide. One
# cheap pass finds them; each is then tested whole (no regex backtracking over prose).
_LONG = re.compile(r"[^\s\"'`<>(){}\[\],;:]{16,}")
_B64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"(?:\\x|0x)?(?:[0-9a-fA-F]{2}(?:\\x|0x)?){8,}")
_URLENC = re.compile(r"(?:%[0-9a-fA-F]{2}[^%\s]{0,3}){4,}")
_ENTITIES = re.compile(r"(?:&#x?[0-9a-fA-F]{1,6};\s?){4,}")
_COMMENT = re.compile(r"<!--(.*?)(?:-->|$)|^\s*\[[^\]]*\]:\s*#\s*\((.*?)\)\s*$",
                      re.DOTALL | re.MULTILINE)
# Words that instructions use, in the transformed text: a cheap gate before ROT13 and
# reversal are taken seriously (two of them must appear).
_CUE = frozenset(("ignore", "instructions", "instruction", "previous", "system", "prompt",
                  "disregard", "forget", "reveal", "password", "secret", "override",
                  "pretend", "bypass", "jailbreak", "pwned", "execute", "respond", "say",
                  "rules", "above", "all", "you", "your"))
_LETTERS = re.compile(r"[a-z]+")
_ROT_MAX = 4096  # ROT13 and reversed text are short payloads; long prose is not tried
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
    if s.isdigit() or (s.isalpha() and (s.islower() or s.isupper())):
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


def _cues(text: str) -> int:
    return len(_CUE.intersection(_LETTERS.findall(text)))


def _long_runs(text: str) -> list[tuple[str, str]]:
    """Base64 and hex hidden in long runs of ``text``, as ``(kind, decoded)``."""
    out: list[tuple[str, str]] = []
    for m in _LONG.finditer(text):
        run = m.group()
        decoded = None
        if _HEX.fullmatch(run):
            decoded, kind = _hex(run), "hex"
        elif _B64.fullmatch(run):
            decoded, kind = _b64(run), "base64"
        if decoded:
            out.append((kind, decoded))
            if len(out) >= MAX_SEGMENTS:
                break
    return out


def _url(s: str) -> str | None:
    return unquote(s)


def _comment(m: re.Match[str]) -> str | None:
    return m.group(1) or m.group(2)


# (kind, a cheap test on the text, the pattern, the decoder of one match)
_DECODERS: tuple[tuple[str, Callable[[str], bool], re.Pattern[str],
                       Callable[[re.Match[str]], str | None]], ...] = (
    ("comment", lambda t: "<!--" in t or "]:" in t, _COMMENT, _comment),
    ("url", lambda t: "%" in t, _URLENC, lambda m: _url(m.group())),
    ("entities", lambda t: "&#" in t, _ENTITIES, lambda m: html.unescape(m.group())),
)


def hidden_segments(text: str, lowered: str) -> list[tuple[str, str]]:
    """Segments hidden in ``text`` (``lowered`` is its normalised form), as
    ``(kind, decoded text)``; see the module docstring."""
    out = _long_runs(text) if len(text) >= _MIN_B64 else []
    budget = MAX_DECODED - sum(len(v) for _, v in out)
    for kind, gate, pattern, decode in _DECODERS:
        if not gate(text):
            continue
        for m in pattern.finditer(text):
            value = decode(m)
            if value is None or not value.strip():
                continue
            value = value[:budget]
            budget -= len(value)
            out.append((kind, value))
            if budget <= 0 or len(out) >= MAX_SEGMENTS:
                return out
    if len(lowered) <= _ROT_MAX and _cues(lowered) < 2:
        rot = lowered.translate(_ROT13)
        rev = lowered[::-1]
        if _cues(rot) >= 2:
            out.append(("rot13", rot))
        elif _cues(rev) >= 2:
            out.append(("reversed", rev))
    return out
