"""The injection detector: normalisation, hidden segments, phrase families and the
trained classifier, combined into one score with its reasons.

::

    scan(text, document=False) -> Verdict(score, reasons)

``document=False`` judges a user's own prompt (the ``direct`` model, the families that
make sense in a prompt); ``document=True`` judges retrieved data and tool output (the
``document`` model and the families of instructions addressed to a model). Evidence is
combined as a noisy-OR: the classifier's probability, each phrase family's weight, and
obfuscation (hidden tag text, many invisible characters, text hidden in comments or
encodings that itself scores high). Hidden and encoded segments are scanned like the
text itself, recursively to :data:`MAX_DEPTH`.

Everything is pure computation with bounded cost (linear in the text); callers run
large inputs off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.guards.injection import classifier, phrases
from bastion.guards.injection.decode import hidden_segments
from bastion.guards.injection.features import TOKEN, segments
from bastion.guards.injection.normalize import normalize

MAX_DEPTH = 3
MIN_WORDS = 4  # shorter prompts are judged by the phrase families alone
_INVISIBLE_MIN = 8  # fewer invisible characters than this are ordinary (emoji, typos)
_REPORT_ONLY = 0.3  # a reason worth naming that adds nothing to the score


@dataclass(frozen=True, slots=True)
class Verdict:
    """The combined score in [0, 1] and the reasons that contributed to it."""

    score: float
    reasons: tuple[str, ...] = ()

    def over(self, threshold: float) -> bool:
        return self.score >= threshold


CLEAN = Verdict(0.0)


def _classifier(text: str, document: bool) -> float:
    """A prompt is scored window by window; a document sentence by sentence (and line by
    line), since an instruction hidden in data is one sentence among many."""
    if document:
        model = classifier.load("document")
        best = max((model.margin(toks)[0] for seg in segments(text)
                    if (toks := TOKEN.findall(seg))), default=None)
    else:
        toks = TOKEN.findall(text)
        if sum(1 for t in toks if t[0].isalnum()) < MIN_WORDS:
            return 0.0  # "Say hello": too few words for n-gram statistics to mean anything
        best = classifier.load("direct").margin(toks)[0]
    return 0.0 if best is None else classifier.probability(best)


def _evidence(text: str, document: bool, depth: int, out: dict[str, float]) -> None:
    norm = normalize(text)
    found = phrases.match(norm.text, document=document)
    for name, w in found.items():
        out[name] = max(out.get(name, 0.0), w)
    p = _classifier(norm.text, document)
    out["classifier"] = max(out.get("classifier", 0.0), p)
    if norm.invisible >= _INVISIBLE_MIN:
        # Counted and reported, but not evidence by itself: pasted web text has some, and
        # what they hide is judged once removed.
        out["invisible_text"] = max(out.get("invisible_text", 0.0), _REPORT_ONLY)
    if depth >= MAX_DEPTH:
        return
    hidden = [("unicode_tags", norm.hidden)] if norm.hidden else []
    hidden += hidden_segments(text, norm.text)
    for kind, segment in hidden:
        inner: dict[str, float] = {}
        _evidence(segment, document, depth + 1, inner)
        best = _combine(inner)
        if kind == "unicode_tags":
            # Text no person can see, addressed to the model: suspicious by itself.
            best = max(best, 0.7)
        if best >= 0.5:  # hidden text that is itself an attack
            out[f"hidden_{kind}"] = max(out.get(f"hidden_{kind}", 0.0), best)


def _combine(evidence: dict[str, float]) -> float:
    return phrases.combine({k: v for k, v in evidence.items() if v != _REPORT_ONLY})


def scan(text: str, *, document: bool = False) -> Verdict:
    """Judge ``text`` (see the module docstring)."""
    if not text or text.isspace():
        return CLEAN
    evidence: dict[str, float] = {}
    _evidence(text, document, 0, evidence)
    # Never quite 1: a threshold of 1 means "never act".
    score = min(round(_combine(evidence), 4), 0.9999)
    reasons = tuple(sorted(k for k, v in evidence.items() if v >= 0.3))
    return Verdict(score, reasons)
