"""Health information about a person (PHI): a health term tied to someone.

"What are the symptoms of diabetes?" holds a health term but no person. "My father
was diagnosed with diabetes" or "Jane Roe, MRN 123456, takes insulin" do. A health
term is kept (as a HEALTH finding, which makes the request's data class ``phi``) when
the same text holds an identifier (a name, e-mail, phone number, date of birth,
medical record number, ...) or its sentence has a word that points at a person
(``my``, ``he``, ``patient``, ``mother``); otherwise it is dropped. A medical record
number is PHI by itself.
"""

from __future__ import annotations

import re

from bastion.privacy.entities import HEALTH, IDENTIFIERS, Finding
from bastion.privacy.lexicon import PERSON_LINKS

_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n\s*\n")
_WORD = re.compile(r"[a-z']+")


def _sentence(text: str, pos: int) -> tuple[int, int]:
    start = 0
    for m in _SENTENCE_END.finditer(text, max(0, pos - 400), pos):
        start = m.end()
    m2 = _SENTENCE_END.search(text, pos, pos + 400)
    return start, (m2.start() if m2 else min(len(text), pos + 400))


def link(text: str, findings: list[Finding]) -> list[Finding]:
    """``findings`` without the health terms that concern no one (see the docstring)."""
    if not any(f.entity == HEALTH for f in findings):
        return findings
    idents = [f for f in findings if f.entity in IDENTIFIERS]
    out = []
    for f in findings:
        if f.entity != HEALTH:
            out.append(f)
            continue
        s, e = _sentence(text, f.start)
        if idents or any(w in PERSON_LINKS for w in _WORD.findall(text[s:e].lower())):
            out.append(Finding(HEALTH, f.start, f.end, 0.85, f.value))
    return out
