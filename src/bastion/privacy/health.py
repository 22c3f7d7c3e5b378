"""Health information about a person (PHI): a health term tied to someone.

"What are the symptoms of diabetes?" or "Can I take ibuprofen with coffee?" hold a
health term but identify no one. "Jane Roe, MRN 123456, takes insulin" or "my father
(+44 20 7946 0958) was diagnosed with diabetes" do. A health term is kept (as a HEALTH
finding, which makes the request's data class ``phi``) when the same text holds an
identifier (a name, e-mail, phone number, date of birth, address, medical record
number, ...); otherwise it is dropped. A medical record number is PHI by itself.
"""

from __future__ import annotations

from bastion.privacy.entities import HEALTH, IDENTIFIERS, Finding


def link(text: str, findings: list[Finding]) -> list[Finding]:
    """``findings`` without the health terms that concern no one (see the docstring)."""
    if not any(f.entity == HEALTH for f in findings):
        return findings
    if any(f.entity in IDENTIFIERS for f in findings):
        return [Finding(HEALTH, f.start, f.end, 0.85, f.value) if f.entity == HEALTH else f
                for f in findings]
    return [f for f in findings if f.entity != HEALTH]
