"""Structural checks: does the new prompt ask the same thing as the cached one?

:func:`compare` lines two :class:`~bastion.cache.semantic.text.Parsed` prompts up
and returns a :class:`PairView`: the *vetoes* (reasons the two questions cannot
share an answer, whatever their embeddings say) and the content words left
unmatched on each side (what the trained classifier weighs).

Vetoes:

* ``negation``: a different number of negations, or a negation on another word
  ("charges but won't turn on" / "turns on but won't charge");
* ``number``: numbers, versions, ordinals differ (number words read as digits);
* ``exact``: a name, date, unit or currency on one side only;
* ``quantifier``: all/only/both/most/few differ, or any/some against another;
* ``polar``: the same axis on different sides (open/closed, ascending/descending,
  keep/discard, include/exclude, refundable/non-refundable, …);
* ``direction``: a word after "from" on one side and after "to" on the other;
* ``role``: the same person as subject on one side and as object on the other
  ("notice my landlord gives me" / "notice I give my landlord");
* ``question``: when / where / why / who asked differently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bastion.cache.semantic.lexicon import PRONOUNS
from bastion.cache.semantic.text import Parsed, Word

_CONTENT = frozenset({"word", "polar", "exact", "quant", "num"})
_TARGET = frozenset({"word", "polar", "exact", "num"})
_DIRECTION = {"from": "from", "to": "to", "into": "to", "onto": "to", "towards": "to",
              "than": "than", "von": "from", "nach": "to",
              "desde": "from", "hacia": "to", "vers": "to"}
_STRONG_QUANT = frozenset({"all", "only", "both", "most", "few"})
_SPECIFIC_Q = frozenset({"when", "where", "why", "who"})
_ADDRESSEE = frozenset({"tell", "show", "help", "let", "remind", "teach", "explain",
                        "please", "can", "could"})


@dataclass(slots=True)
class PairView:
    """Two prompts lined up (see the module docstring)."""

    vetoes: list[str] = field(default_factory=list)
    unmatched_a: list[Word] = field(default_factory=list)
    unmatched_b: list[Word] = field(default_factory=list)
    content_a: int = 0
    content_b: int = 0
    one_sided_polar: int = 0


def _damerau_le(a: str, b: str, limit: int) -> bool:
    """Whether the optimal-string-alignment distance of ``a`` and ``b`` is ≤ ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return False
        prev2, prev = prev, cur
    return prev[-1] <= limit


def typo_of(a: str, b: str) -> bool:
    """A spelling slip of the same word (not for short words: "cat"/"car")."""
    n = min(len(a), len(b))
    if n < 4 or not a.isalpha() or not b.isalpha():
        return False
    return _damerau_le(a, b, 2 if n >= 8 else 1)


def _targets(p: Parsed) -> Counter[str]:
    """The word each negation bears on: the next content word within four."""
    out: Counter[str] = Counter()
    words = p.words
    for i, w in enumerate(words):
        if w.kind != "neg":
            continue
        nxt = next((x.stem for x in words[i + 1:i + 5] if x.kind in _TARGET), "")
        out[nxt] += 1
    return out


def _roles(p: Parsed) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for i, w in enumerate(p.words):
        if w.kind != "pron":
            continue
        person, case = PRONOUNS[w.text]
        if case == "o" and i > 0 and p.words[i - 1].text in _ADDRESSEE:
            continue  # "tell me", "can you help me": the asker, not a role in the question
        out.setdefault(person, set()).add(case)
    return out


def _directions(p: Parsed) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, w in enumerate(p.words):
        if w.kind not in _TARGET:
            continue
        for prev in p.words[max(0, i - 2):i][::-1]:
            d = _DIRECTION.get(prev.text)
            if d is not None:
                out.setdefault(w.stem, d)
                break
    return out


def _swapped(a: Parsed, b: Parsed, da: dict[str, str], db: dict[str, str]) -> bool:
    """"Word to PDF" / "PDF to Word": each side sends a different shared word "to"."""
    shared = {w.stem for w in a.words} & {w.stem for w in b.words}
    for d in set(da.values()) & set(db.values()):
        wa = {w for w, x in da.items() if x == d and w in shared}
        wb = {w for w, x in db.items() if x == d and w in shared}
        if wa and wb and wa != wb:
            return True
    return False


def _axes(p: Parsed) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for w in p.of("polar"):
        axis, _, side = w.stem.rpartition(":")
        out.setdefault(axis, set()).add(int(side))
    return out


def _quant_veto(a: Parsed, b: Parsed) -> bool:
    qa = {w.stem for w in a.of("quant")}
    qb = {w.stem for w in b.of("quant")}
    if qa & _STRONG_QUANT != qb & _STRONG_QUANT:
        return True
    wa, wb = qa - _STRONG_QUANT, qb - _STRONG_QUANT
    return bool(wa and wb and wa != wb)


def _exact_veto(a: Parsed, b: Parsed) -> bool:
    """A name/date/unit of one side that the other side does not contain at all."""
    for x, y in ((a, b), (b, a)):
        surface = {w.text for w in y.words} | {w.stem for w in y.words}
        if any(w.text not in surface and w.stem not in surface for w in x.of("exact")):
            return True
    return False


def _joined(words: list[Word], others: list[Word]) -> set[str]:
    """Words of ``words`` written as two words on the other side ("login"/"log in")."""
    texts = [x.text for x in others]
    pairs = {texts[i] + texts[i + 1] for i in range(len(texts) - 1)}
    return {w.text for w in words if w.text in pairs}


def _align(a: Parsed, b: Parsed, view: PairView) -> None:
    ca = [w for w in a.words if w.kind in _CONTENT and w.kind != "num"]
    cb = [w for w in b.words if w.kind in _CONTENT and w.kind != "num"]
    view.content_a, view.content_b = len(ca), len(cb)
    left = list(cb)
    for w in ca:
        hit = next((x for x in left if x.stem == w.stem or x.text == w.text), None)
        if hit is None and w.kind == "word":
            hit = next((x for x in left if x.kind == "word" and typo_of(w.text, x.text)), None)
        if hit is None:
            view.unmatched_a.append(w)
        else:
            left.remove(hit)
    used = {x.stem for x in ca}
    # A repeated word ("the plan … the plan") on one side is not new content.
    view.unmatched_b = [x for x in left if x.stem not in used]
    view.unmatched_a = [w for w in view.unmatched_a if w.stem not in {x.stem for x in cb}]
    glued_a, glued_b = _joined(view.unmatched_a, b.words), _joined(view.unmatched_b, a.words)
    if glued_a or glued_b:
        parts_a = {w.text for w in a.words}
        parts_b = {w.text for w in b.words}
        view.unmatched_a = [w for w in view.unmatched_a if w.text not in glued_a]
        view.unmatched_b = [w for w in view.unmatched_b if w.text not in glued_b]
        # …and the two halves on the other side are matched by it.
        view.unmatched_b = [w for w in view.unmatched_b
                            if not any(g.startswith(w.text) or g.endswith(w.text)
                                       for g in glued_a) or w.text in parts_a]
        view.unmatched_a = [w for w in view.unmatched_a
                            if not any(g.startswith(w.text) or g.endswith(w.text)
                                       for g in glued_b) or w.text in parts_b]


def compare(a: Parsed, b: Parsed) -> PairView:
    """Line ``a`` (the cached prompt) and ``b`` (the new one) up; see the module doc."""
    view = PairView()
    if len(a.of("neg")) != len(b.of("neg")) or _targets(a) != _targets(b):
        view.vetoes.append("negation")
    if sorted(w.stem for w in a.of("num")) != sorted(w.stem for w in b.of("num")):
        view.vetoes.append("number")
    if _exact_veto(a, b):
        view.vetoes.append("exact")
    if _quant_veto(a, b):
        view.vetoes.append("quantifier")
    xa, xb = _axes(a), _axes(b)
    if any(axis in xb and xb[axis] != sides for axis, sides in xa.items()):
        view.vetoes.append("polar")
    view.one_sided_polar = len(set(xa) ^ set(xb))
    da, db = _directions(a), _directions(b)
    if any(w in db and db[w] != d for w, d in da.items()) or _swapped(a, b, da, db):
        view.vetoes.append("direction")
    ra, rb = _roles(a), _roles(b)
    if any(p in rb and not (rb[p] & cases) for p, cases in ra.items()):
        view.vetoes.append("role")
    qa = {w.stem for w in a.of("q")}
    qb = {w.stem for w in b.of("q")}
    if qa and qb and (qa & _SPECIFIC_Q) != (qb & _SPECIFIC_Q):
        view.vetoes.append("question")
    _align(a, b, view)
    return view
