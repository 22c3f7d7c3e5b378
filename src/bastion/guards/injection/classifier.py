"""The trained linear classifier that ships inside the package.

Two models are bundled in ``model/``: ``direct.bin`` (a user's own prompt: is it an
attack on the model?) and ``document.bin`` (retrieved data or tool output: does it
hold instructions addressed to the model?). Each is a logistic regression over the
hashed features of :mod:`.features`, trained by ``make guard-model`` from public
corpora, and stored as int16 weights with one scale (512 KiB before compression).

A model is read the first time it is used (a few milliseconds), never at import, so
gateways with the injection guard off pay nothing. Scoring is pure Python and costs a
dictionary look-up per known word: each word's contribution is memoised in a bounded
table.
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from array import array
from importlib import resources

from bastion.guards.injection import features as F

MAGIC = b"BGIM"
VERSION = 3
_HEADER = struct.Struct("<4sHHffI")  # magic, version, bits, bias, scale, vocab bytes
_MEMO_MAX = 65_536


def encode_model(weights: list[float], bias: float, vocab: list[str] | None = None) -> bytes:
    """Serialise float weights (length ``2**BITS``), and the closed vocabulary if any,
    as the compressed int16 format."""
    peak = max(abs(w) for w in weights) or 1.0
    scale = peak / 32767.0
    q = array("h", (max(-32767, min(32767, round(w / scale))) for w in weights))
    words = "\n".join(vocab or ()).encode()
    header = _HEADER.pack(MAGIC, VERSION, F.BITS, bias, scale, len(words))
    return zlib.compress(header + words + q.tobytes(), 9)


class LinearModel:
    """One bundled model: ``margins(tokens)`` → the best window's logit."""

    def __init__(self, blob: bytes) -> None:
        raw = zlib.decompress(blob)
        magic, version, bits, bias, scale, nvocab = _HEADER.unpack_from(raw)
        if magic != MAGIC or version != VERSION or bits != F.BITS:
            raise ValueError("the injection model file does not match this version of Bastion")
        start = _HEADER.size + nvocab
        words = raw[_HEADER.size:start].decode()
        self.vocab = frozenset(words.split("\n")) if words else None
        q = array("h")
        q.frombytes(raw[start:])
        self.bias = bias
        self.w = [v * scale for v in q]
        self._memo: dict[str, tuple[int, float]] = {}

    def _token(self, tok: str) -> tuple[int, float]:
        hit = self._memo.get(tok)
        if hit is not None:
            return hit
        w = self.w
        if self.vocab is not None:
            h = F.unigram(tok if tok in self.vocab else F.shape(tok))
            value = w[h]
        else:
            h = F.unigram(tok)
            grams = F.char_grams(tok)
            value = w[h] + (sum(w[g] for g in grams) / len(grams) if grams else 0.0)
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()
        self._memo[tok] = (h, value)
        return h, value

    def contributions(self, tokens: list[str]) -> list[float]:
        """Each token's share of the score (word, its character n-grams, bigram)."""
        w = self.w
        get = self._memo.get
        token = self._token
        mult, mask = F.BIGRAM_MULT, F.MASK
        out: list[float] = []
        append = out.append
        prev = -1
        for tok in tokens:
            hit = get(tok)
            h, value = hit if hit is not None else token(tok)
            if prev >= 0:
                value += w[((prev * mult) ^ h) & mask]
            append(value)
            prev = h
        return out

    def margin(self, tokens: list[str]) -> tuple[float, int, int]:
        """The highest window logit and that window's token range."""
        contrib = self.contributions(tokens)
        prefix = [0.0]
        acc = 0.0
        for c in contrib:
            acc += c
            prefix.append(acc)
        best, span = -math.inf, (0, 0)
        for a, b in F.windows(len(tokens)):
            n = b - a
            m = self.bias + ((prefix[b] - prefix[a]) / F.norm(n) if n else 0.0)
            if m > best:
                best, span = m, (a, b)
        return best, span[0], span[1]


_models: dict[str, LinearModel] = {}
_lock = threading.Lock()


def load(name: str) -> LinearModel:
    """The bundled model ``name`` (``direct`` or ``document``), read once per process."""
    model = _models.get(name)
    if model is None:
        with _lock:  # detectors may run in worker threads (large inputs)
            model = _models.get(name)
            if model is None:
                blob = (resources.files("bastion.guards.injection") / "model" /
                        f"{name}.bin").read_bytes()
                model = _models[name] = LinearModel(blob)
    return model


def probability(margin: float) -> float:
    if margin < -30:
        return 0.0
    return 1.0 / (1.0 + math.exp(-margin))
