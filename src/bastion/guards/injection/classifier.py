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
            if tok in F.STOP:  # a stop word counts through its pairs only
                value = 0.0
            else:
                value = w[h] + (sum(w[g] for g in grams) / len(grams) if grams else 0.0)
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()
        self._memo[tok] = (h, value)
        return h, value

    def margin(self, tokens: list[str]) -> tuple[float, int, int]:
        """The highest window logit and that window's token range.

        Features are binary within a window (a word or pair counts once, however often it
        repeats), so repeating a phrase neither builds up nor dilutes evidence. Windows
        slide one token at a time, with counts, so the cost stays linear.
        """
        get = self._memo.get
        token = self._token
        w = self.w
        mult, mask = F.BIGRAM_MULT, F.MASK
        hs: list[int] = []
        value: dict[int, float] = {}
        for tok in tokens:
            hit = get(tok)
            h, v = hit if hit is not None else token(tok)
            hs.append(h)
            value[h] = v
        bis = [-1] + [((hs[i - 1] * mult) ^ hs[i]) & mask for i in range(1, len(hs))]
        counts: dict[int, int] = {}
        bcounts: dict[int, int] = {}
        total = 0.0
        best, span = -math.inf, (0, 0)
        spans = F.windows(len(hs))
        starts = {a for a, _ in spans}
        width = spans[0][1] - spans[0][0]
        for i, h in enumerate(hs):
            c = counts.get(h, 0)
            if not c:
                total += value[h]
            counts[h] = c + 1
            b = bis[i]  # the pair (i-1, i): inside every window that holds token i, but the first
            if b >= 0:
                c = bcounts.get(b, 0)
                if not c:
                    total += w[b]
                bcounts[b] = c + 1
            a = i + 1 - width
            if a < 0:
                continue
            if a in starts:
                m = self.bias + total / F.norm(len(counts))
                if m > best:
                    best, span = m, (a, a + width)
            # slide: drop token a and the pair that joined it to the token after it
            h0 = hs[a]
            counts[h0] -= 1
            if not counts[h0]:
                del counts[h0]
                total -= value[h0]
            if a + 1 < len(hs):
                b0 = bis[a + 1]
                bcounts[b0] -= 1
                if not bcounts[b0]:
                    del bcounts[b0]
                    total -= w[b0]
        return (best if spans[0][1] else self.bias), span[0], span[1]


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
