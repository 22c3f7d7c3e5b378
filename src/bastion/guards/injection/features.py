"""The features of the trained classifier, shared by the runtime and the training script.

A text (already normalised) is split into tokens: words (``\\w+``), single Chinese and
Japanese characters, and single marks of punctuation. Each token contributes three
kinds of hashed features, all linear:

* the word itself (namespace 1);
* its character 3-, 4- and 5-grams with boundary marks (``<ig``, ``ign``, … ``re>``),
  averaged, so a long word weighs as much as a short one (namespace 2) — this is what
  lets the model read misspellings, inflections and languages it saw little of;
* the pair it forms with the token before it (a word bigram).

A model may carry a closed vocabulary (the ``document`` model does): words outside it
are seen only as their shape (``<w>``, ``<num>``) and have no character n-grams,
so the model judges how a text is addressed and phrased, not what it is about.

Hashes are CRC-32 of the UTF-8 bytes (stable across processes and machines), folded
into ``2**BITS`` buckets. A window of ``n`` tokens scores
``bias + sum(token contributions) / sqrt(max(n, MIN_TOKENS))``; a text scores the
maximum over windows of :data:`WINDOW` tokens taken every :data:`STRIDE` tokens, so
an instruction hidden in a long document is not averaged away.
"""

from __future__ import annotations

import math
import re
from zlib import crc32

BITS = 18
MASK = (1 << BITS) - 1
WINDOW = 48
MIN_TOKENS = 8  # shorter windows are normalised as if this long: "hi" is not evidence
STRIDE = 16
_UNI_SEED = 0x1
_CHAR_SEED = 0x2
BIGRAM_MULT = 0x01000193
# Chinese and Japanese characters are tokens of their own (those scripts have no spaces).
TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|\w+|[^\w\s]")


# Documents are judged sentence by sentence (and line by line: tables, lists, code).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f])")


def segments(text: str) -> list[str]:
    """The sentences and lines of ``text`` (a sentence mark inside a word, as in a file
    name or a version, does not end a sentence)."""
    out: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            out.extend(m for m in SENTENCE_END.split(line) if m.strip())
    return out


# Words so common that their weight would only learn the style of the training corpora
# ("will", "the", "?"): they count in pairs ("ignore the", "you will"), not alone.
STOP = frozenset((
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for",
    "with", "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its",
    "this", "that", "these", "those", "there", "here", "i", "me", "my", "we", "our", "you",
    "your", "he", "she", "they", "them", "his", "her", "their", "what", "which", "who",
    "whom", "when", "where", "why", "how", "will", "would", "shall", "should", "can",
    "could", "may", "might", "must", "do", "does", "did", "done", "have", "has", "had",
    "not", "no", "so", "than", "then", "too", "very", "just", "also", "only", "about",
    "into", "over", "under", "again", "more", "most", "some", "any", "all", "each", "both",
    "few", "such", "own", "same", "s", "t", ".", ",", "?", "!", ";", ":", "'", '"', "-",
    "(", ")",
))


def unigram(token: str) -> int:
    return crc32(token.encode("utf-8"), _UNI_SEED) & MASK


def char_grams(token: str) -> list[int]:
    """Hashed 3- to 5-grams of ``<token>``; empty for one-character tokens."""
    if len(token) < 2:
        return []
    padded = f"<{token}>".encode()
    if len(padded) > 40:  # a long run (base64, CJK): its start and end say enough
        padded = padded[:20] + padded[-20:]
    n = len(padded)
    return [crc32(padded[i:i + k], _CHAR_SEED) & MASK
            for k in (3, 4, 5) for i in range(n - k + 1)]


def shape(token: str) -> str:
    """What a model with a closed vocabulary sees of a word outside it."""
    return "<num>" if token[0].isdigit() else "<w>"


def bigram(prev: int, cur: int) -> int:
    return ((prev * BIGRAM_MULT) ^ cur) & MASK


def norm(n: int) -> float:
    """The divisor of a window of ``n`` tokens."""
    return math.sqrt(max(n, MIN_TOKENS))


def windows(n: int) -> list[tuple[int, int]]:
    """Token windows scored for a text of ``n`` tokens (at least one, maybe empty)."""
    if n <= WINDOW:
        return [(0, n)]
    starts = list(range(0, n - WINDOW + 1, STRIDE))
    if starts[-1] + WINDOW < n:
        starts.append(n - WINDOW)
    return [(s, s + WINDOW) for s in starts]
