"""The verifier: embeddings propose a cached prompt, this decides whether it answers.

``Verifier.score(a, b, cos)`` judges a cached prompt ``a`` against a new prompt
``b`` whose embeddings have cosine ``cos``:

1. the structural checks of :mod:`.structure` veto pairs that ask something else
   (negation, numbers, names, quantifiers, opposites, direction, roles) → 0;
2. prompts that differ only in case, punctuation, greetings, politeness,
   inflection, known synonyms or typos → 1;
3. anything else is weighed by a small logistic classifier over the pair's
   features → a probability: the embedding cosine, how many content words are
   left unmatched on each side, whether one side only adds words, and how the
   two questions' words line up by their vectors in context (:mod:`.words`: a
   word said differently aligns, a changed or added thing does not).

A hit needs ``score ≥ threshold``. The classifier's weights and its calibration
table (``verifier_model.json`` in this package, written by
``bench/train_cache_verifier.py``) map an operator's error budget
(``max_wrong_rate``) to that threshold: the lowest one whose share of trap pairs
accepted, measured on the training pairs, stays within the budget.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from bastion.cache.semantic.structure import PairView, compare
from bastion.cache.semantic.text import Parsed, Word, analyse, stem
from bastion.cache.semantic.words import WordVectors, unpack

MODEL_FILE = "verifier_model.json"
FEATURES = ("cos", "unmatched", "unmatched_min", "unmatched_max", "unmatched_frac",
            "added_only", "one_sided_polar", "cos_x_unmatched", "short",
            "align_a", "align_b", "align_f", "align_worst", "cos_minus_align",
            "loose_worst", "loose_mean", "loose_below_60", "loose_below_70", "loose_found")


def features(view: PairView, cos: float, wa: WordVectors, wb: WordVectors) -> list[float]:
    """The classifier's inputs for one pair (names in :data:`FEATURES`)."""
    return lexical_features(view, cos) + alignment_features(view, cos, wa, wb)


def alignment_features(view: PairView, cos: float, wa: WordVectors, wb: WordVectors
                       ) -> list[float]:
    """How well the two questions' content words line up by their vectors: each word's
    best match on the other side (means, the worst), the cosine against that, and how
    well the words the lexical alignment left *loose* (unmatched) found a partner."""
    if not wa.words or not wb.words:
        return [0.0] * 10
    sims = wa.vecs @ wb.vecs.T
    best_a, best_b = sims.max(axis=1), sims.max(axis=0)
    pa, pb = float(best_a.mean()), float(best_b.mean())
    f = 2 * pa * pb / (pa + pb) if pa + pb > 0 else 0.0
    loose = ([float(v) for w, v in zip(wa.words, best_a, strict=True)
              if _loose(w, view.unmatched_a)]
             + [float(v) for w, v in zip(wb.words, best_b, strict=True)
                if _loose(w, view.unmatched_b)])
    return [pa, pb, f, float(min(best_a.min(), best_b.min())), cos - f,
            min(loose, default=1.0), sum(loose) / len(loose) if loose else 1.0,
            float(sum(v < 0.6 for v in loose)), float(sum(v < 0.7 for v in loose)),
            float(len(loose))]


def _loose(word: str, unmatched: list[Word]) -> bool:
    return any(word in (w.text, w.stem) or stem(word) == w.stem for w in unmatched)


def lexical_features(view: PairView, cos: float) -> list[float]:
    """The features of the lexical alignment alone (:func:`compare`'s view)."""
    ua, ub = len(view.unmatched_a), len(view.unmatched_b)
    total = ua + ub
    content = max(1, view.content_a + view.content_b)
    return [
        cos,
        float(total),
        float(min(ua, ub)),
        float(max(ua, ub)),
        total / content,
        1.0 if min(ua, ub) == 0 else 0.0,
        float(view.one_sided_polar),
        cos * total,
        1.0 if min(view.content_a, view.content_b) <= 2 else 0.0,
    ]


@dataclass(slots=True, frozen=True)
class Verdict:
    score: float
    reason: str  # "veto:<kind>", "same_words" or "classifier"


@dataclass(slots=True, frozen=True)
class Model:
    """Weights and calibration of the pair classifier."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    # (threshold, trap rate, should-hit rate, neighbour rate) on the training pairs
    calibration: tuple[tuple[float, ...], ...]

    def probability(self, x: list[float]) -> float:
        z = self.bias + sum(w * (v - m) / s for w, v, m, s in
                            zip(self.weights, x, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def threshold_for(self, max_wrong_rate: float) -> float:
        """The lowest threshold whose measured trap acceptance is within the budget."""
        ok = [row[0] for row in self.calibration if row[1] <= max_wrong_rate]
        return min(ok) if ok else 1.0

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Model:
        def floats(key: str) -> tuple[float, ...]:
            raw = data[key]
            assert isinstance(raw, list)
            return tuple(float(v) for v in raw)

        cal = data["calibration"]
        assert isinstance(cal, list)
        bias = data["bias"]
        assert isinstance(bias, int | float)
        return cls(floats("weights"), float(bias), floats("mean"), floats("scale"),
                   tuple(tuple(float(v) for v in row) for row in cal))


@lru_cache(maxsize=1)
def shipped_model() -> Model:
    """The classifier shipped in the package."""
    text = resources.files(__package__).joinpath(MODEL_FILE).read_text(encoding="utf-8")
    return Model.from_json(json.loads(text))


class Verifier:
    """Judges candidate pairs (see the module docstring). Stateless, thread-safe."""

    def __init__(self, model: Model | None = None) -> None:
        self.model = model or shipped_model()

    def threshold_for(self, max_wrong_rate: float) -> float:
        return self.model.threshold_for(max_wrong_rate)

    def judge(self, a: Parsed, b: Parsed, cos: float, words_a: bytes = b"",
              words_b: bytes = b"") -> Verdict:
        """``words_*``: the packed word vectors of :mod:`.words`; without them the
        classifier cannot weigh the pair, and only same-words pairs pass."""
        view = compare(a, b)
        if view.vetoes:
            return Verdict(0.0, "veto:" + view.vetoes[0])
        if not view.unmatched_a and not view.unmatched_b:
            return Verdict(1.0, "same_words")
        wa, wb = unpack(words_a), unpack(words_b)
        if wa is None or wb is None:
            return Verdict(0.0, "no_word_vectors")
        return Verdict(self.model.probability(features(view, cos, wa, wb)), "classifier")

    def score(self, a: str, b: str, cos: float, words_a: bytes = b"",
              words_b: bytes = b"") -> Verdict:
        return self.judge(analyse(a), analyse(b), cos, words_a, words_b)
