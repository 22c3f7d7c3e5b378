# ruff: noqa: RUF001, RUF002 - this module lists look-alike letters on purpose
"""Normalisation: one canonical, lower-case view of a text before any detector looks at it.

Attackers hide instructions from filters, not from the model: the model reads through
homoglyphs, full-width letters, zero-width characters, ``1gn0re``, ``i g n o r e`` and
base64. So the detectors read the text the way the model would:

1. Unicode *tag* characters (U+E0000-E007F, "ASCII smuggling") are decoded into the
   hidden text they carry, which is scanned on its own.
2. Zero-width, bidi and other invisible format characters are removed and counted.
3. NFKC folds full-width, mathematical and compatibility letters (``ＰＷＮＥＤ``,
   ``𝖯``) into plain ones.
4. Words that mix Latin letters with look-alike Cyrillic or Greek ones have the
   look-alikes folded (``іgnоrе`` → ``ignore``); words written wholly in another
   script are left alone, so Russian or Greek text keeps its meaning.
5. Lower case; leetspeak inside words (``1gn0r3``, ``byp@ss``) is folded.
6. Spaced-out letters (``i g n o r e``, ``i.g.n.o.r.e``) are joined.

Decoding of encoded segments (base64, hex, URL encoding, ROT13, reversed text) and of
text hidden in HTML/Markdown comments lives in :mod:`.decode`. Every step is a
precompiled regex or a C-level string method; pure-ASCII text skips steps 1-4.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Invisible format characters: zero-width space/joiners, bidi embeddings, overrides and
# isolates, word joiner and invisible operators, BOM, soft hyphen, Mongolian vowel
# separator, combining grapheme joiner, Hangul fillers, variation selectors.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0100-\U000e01ef]"
)
# Joiners that emoji and Indic scripts use legitimately: removed, not counted.
_BENIGN_INVISIBLE = frozenset("\u200c\u200d\ufe0f")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")

# Look-alikes of Latin letters in Cyrillic, Greek and a few other blocks (the common
# part of Unicode's confusables list for lower-case Latin).
_CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ь": "b", "ѕ": "s", "і": "i",
    "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g",
    "ɑ": "a", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "β": "b", "η": "n", "μ": "u", "ω": "w",
    "ѵ": "v", "ɩ": "i", "ı": "i", "ȷ": "j", "ɪ": "i", "ʏ": "y", "ᴀ": "a", "ʙ": "b",
    "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ᴋ": "k", "ʟ": "l",
    "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u",
    "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "ß": "ss", "ł": "l", "ø": "o", "đ": "d", "ħ": "h",
    "€": "e", "£": "l", "¢": "c", "¥": "y", "ṕ": "p",
}
_CONF_TABLE = str.maketrans(_CONFUSABLES)
_CONF_CLASS = "".join(sorted(k for k in _CONFUSABLES if len(k) == 1))
# A word holding both a Latin letter and a look-alike (either order).
_MIXED_WORD = re.compile(
    rf"[\w{_CONF_CLASS}@$]*(?:[a-zA-Z][\w@$]*[{_CONF_CLASS}]|[{_CONF_CLASS}][\w@$]*[a-zA-Z])"
    rf"[\w{_CONF_CLASS}@$]*"
)

# Leetspeak: a digit or symbol between letters (``h4ck``, ``byp@ss``), or leading a word
# of letters (``1gnore``). Plain numbers, versions and identifiers like ``sha256`` are
# left alone.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                       "8": "b", "9": "g", "6": "g", "@": "a", "$": "s", "!": "i",
                       "|": "l", "+": "t"})
_LEET_WORD = re.compile(
    r"(?<![\w@$!|+])[013456789@$!|+]*[a-z]+(?:[013456789@$!|+]+[a-z]+)+[013456789@$!|+]*"
    r"(?![\w@$])|(?<![\w@$!|+])[013456789@$]+[a-z]{3,}(?![\w@$])"
)
_LEET_GATE = re.compile(r"[a-z][013456789@$!|+]|[013456789@$][a-z]")
# Four or more single letters each followed by the same kind of separator.
_SPACED = re.compile(r"(?<!\w)(?:\w[ .\-_*/\\|~,]){3,}\w(?!\w)")
_SEP = re.compile(r"[ .\-_*/\\|~,]")


@dataclass(slots=True)
class Normalized:
    """The folded text and what folding it revealed."""

    text: str
    invisible: int = 0  # suspicious invisible characters removed
    confusables: int = 0  # words with look-alike letters folded
    leet: int = 0  # words with leetspeak folded
    spaced: int = 0  # runs of spaced-out letters joined
    hidden: str = ""  # text carried by Unicode tag characters


def _untag(m: re.Match[str]) -> str:
    return "".join(chr(ord(c) - 0xE0000) for c in m.group())


def normalize(text: str) -> Normalized:
    """The canonical view of ``text`` (see the module docstring)."""
    out = Normalized(text)
    if not text.isascii():
        if max(text) >= "\U000e0000" and _TAGS.search(text):
            out.hidden = " ".join(_untag(m) for m in _TAGS.finditer(text)).strip()
            text = _TAGS.sub(" ", text)
        removed = _INVISIBLE.findall(text)
        if removed:
            out.invisible = sum(1 for c in removed if c not in _BENIGN_INVISIBLE)
            text = _INVISIBLE.sub("", text)
        text = unicodedata.normalize("NFKC", text)
        if not text.isascii():
            text, out.confusables = _MIXED_WORD.subn(
                lambda m: m.group().translate(_CONF_TABLE), text)
    text = text.lower()
    if _LEET_GATE.search(text) and _LEET_WORD.search(text):
        text, out.leet = _LEET_WORD.subn(lambda m: m.group().translate(_LEET), text)
    if _SPACED.search(text):
        text, out.spaced = _SPACED.subn(lambda m: _SEP.sub("", m.group()), text)
    out.text = text
    return out
