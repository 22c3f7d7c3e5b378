"""The analyzer: pattern findings, names, health linking, then one non-overlapping set.

``Detector.analyze(text)`` is blocking CPU work; the privacy step runs it through
:func:`bastion.core.offload.run_bounded`-style offloading for large texts. Overlaps
are resolved by specificity: a checksum- or format-validated value (card, IBAN,
e-mail, key) beats a shape (phone, address), which beats a model's name guess;
between equals, the longer span wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.privacy import health
from bastion.privacy.entities import (
    CREDIT_CARD,
    DATE_OF_BIRTH,
    EMAIL,
    HEALTH,
    IBAN,
    IP_ADDRESS,
    LOCATION,
    MEDICAL_RECORD_NUMBER,
    NER_ENTITIES,
    ORGANIZATION,
    PERSON,
    PHONE,
    SECRET,
    STREET_ADDRESS,
    US_SSN,
    Finding,
)
from bastion.privacy.ner import NameRecogniser
from bastion.privacy.patterns import scan_patterns

_RANK = {e: i for i, e in enumerate((
    SECRET, EMAIL, IBAN, CREDIT_CARD, US_SSN, IP_ADDRESS, MEDICAL_RECORD_NUMBER,
    STREET_ADDRESS, PHONE, DATE_OF_BIRTH, PERSON, ORGANIZATION, LOCATION, HEALTH))}


@dataclass(slots=True, frozen=True)
class Detector:
    """What to look for (``entities``, ``threshold``) and the name model, if any."""

    entities: frozenset[str]
    threshold: float = 0.5
    names: NameRecogniser | None = None

    @property
    def uses_names(self) -> bool:
        return bool(self.entities & set(NER_ENTITIES)) and self.names is not None

    def analyze(self, text: str) -> list[Finding]:
        """The findings in ``text``, sorted by position, not overlapping."""
        if not text:
            return []
        found = [f for f in scan_patterns(text) if f.entity in self.entities]
        if self.uses_names:
            assert self.names is not None
            found.extend(self.names.find(text, self.entities))
        found = health.link(text, found)
        return resolve(found, self.threshold)


def resolve(found: list[Finding], threshold: float) -> list[Finding]:
    """Keep findings at or above ``threshold``; of overlapping ones, the most specific."""
    found = [f for f in found if f.score >= threshold]
    if len(found) <= 1:
        return found
    found.sort(key=lambda f: f.start)
    kept: list[Finding] = []
    cluster: list[Finding] = []
    end = -1
    # Overlaps only happen within a run of findings that chain into each other: resolve
    # each run on its own, so the cost stays linear in the number of findings.
    for f in found:
        if cluster and f.start >= end:
            kept.extend(_best(cluster))
            cluster = []
        cluster.append(f)
        end = max(end, f.end) if len(cluster) > 1 else f.end
    kept.extend(_best(cluster))
    return kept


def _best(cluster: list[Finding]) -> list[Finding]:
    if len(cluster) == 1:
        return cluster
    chosen: list[Finding] = []
    for f in sorted(cluster, key=lambda f: (_RANK[f.entity], f.start - f.end, f.start)):
        if not any(f.overlaps(k) for k in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: f.start)
