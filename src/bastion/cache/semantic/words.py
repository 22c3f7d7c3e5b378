"""Word vectors of a question, for the verifier's alignment features.

The local model's last layer gives one vector per WordPiece token, in context. A
question's *content* words (not stopwords, fillers, pronouns or question words)
each get the mean of their tokens' vectors, projected on the
:data:`DIMS` principal directions of such word vectors (``word_projection.bin`` in
this package, written with the classifier by ``bench/train_cache_verifier.py``),
unit length, int8: about 64 bytes a word, stored beside the cached question.

The verifier lines the two questions' words up by these vectors (each word's best
match on the other side): "same meaning, different words" ("warranty" /
"guarantee", "parcel" / "order") aligns well, a changed thing ("puppy" / "kitten",
"visitors" / "residents") less so, and an added restriction ("my colleague's
password") not at all.

:func:`pack` / :func:`unpack` are the stored form: the words (``\\x1f``-separated,
UTF-8), a NUL, then the int8 matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from bastion.cache.semantic.minilm import numpy_module
from bastion.cache.semantic.text import fold, lexical_kind

DIMS = 64
PROJECTION_FILE = "word_projection.bin"
_CONTENT = frozenset({"word", "polar", "exact", "quant", "num"})
_SEP = "\x1f"


@dataclass(slots=True, frozen=True)
class WordVectors:
    """A question's content words (folded) and their unit vectors ``[n, DIMS]``."""

    words: tuple[str, ...]
    vecs: Any


@lru_cache(maxsize=8192)
def is_content(word: str) -> bool:
    """Whether a word of the tokenizer's split carries content (see the module doc)."""
    return word.isalnum() and lexical_kind(fold(word)) in _CONTENT


@lru_cache(maxsize=1)
def projection() -> tuple[Any, Any]:
    """``(mean [384], axes [384, DIMS])`` shipped in the package."""
    np = numpy_module()
    raw = resources.files(__package__).joinpath(PROJECTION_FILE).read_bytes()
    table = np.frombuffer(raw, dtype="<f2").astype(np.float32).reshape(DIMS + 1, -1)
    return table[0], np.ascontiguousarray(table[1:].T)


def project(vecs: Any, table: tuple[Any, Any] | None = None) -> Any:
    """Word vectors ``[n, 384]`` → unit vectors ``[n, DIMS]`` rounded to int8 steps."""
    np = numpy_module()
    mean, axes = table or projection()
    out = (vecs - mean) @ axes
    out /= np.maximum(np.sqrt((out * out).sum(axis=1, keepdims=True)), 1e-6)
    return out


def pool(words: list[str], spans: list[tuple[int, int]], states: Any,
         table: tuple[Any, Any] | None = None) -> bytes:
    """The packed vectors of the content words among ``words``, whose tokens are rows
    ``spans[i]`` of ``states`` (one question's last-layer token vectors)."""
    np = numpy_module()
    keep = [(w, a, b) for w, (a, b) in zip(words, spans, strict=True)
            if b > a and b <= len(states) and is_content(w)]
    if not keep:
        return b""
    # Each word's mean token vector in one pass: differences of running sums.
    starts = np.array([a for _, a, _ in keep])
    ends = np.array([b for _, _, b in keep])
    sums = np.cumsum(states[:int(ends.max())], axis=0, dtype=np.float32)
    sums = np.vstack([np.zeros((1, sums.shape[1]), dtype=np.float32), sums])
    vecs = (sums[ends] - sums[starts]) / (ends - starts)[:, None]
    return pack([fold(w) for w, _, _ in keep], project(vecs, table))


def pack(words: list[str], vecs: Any) -> bytes:
    np = numpy_module()
    q = np.clip(np.round(vecs * 127.0), -127, 127).astype(np.int8)
    body: bytes = q.tobytes()
    return _SEP.join(words).encode("utf-8") + b"\0" + body


def unpack(data: bytes) -> WordVectors | None:
    """The stored form back (``None`` for none stored)."""
    if not data:
        return None
    np = numpy_module()
    head, _, body = data.partition(b"\0")
    words = tuple(head.decode("utf-8").split(_SEP))
    vecs = np.frombuffer(body, dtype=np.int8).astype(np.float32).reshape(len(words), -1)
    return WordVectors(words, vecs / 127.0)
