"""What the privacy part detects: entity types, data classes, and one finding.

A :class:`Finding` holds the detected value (``text``) because the pseudonymiser
needs it; findings live only in the request's memory and are never logged,
stored or put in metrics (logs and reports carry entity *types* and counts).
"""

from __future__ import annotations

from dataclasses import dataclass

EMAIL = "EMAIL"
PHONE = "PHONE"
CREDIT_CARD = "CREDIT_CARD"
IBAN = "IBAN"
US_SSN = "US_SSN"
IP_ADDRESS = "IP_ADDRESS"
STREET_ADDRESS = "STREET_ADDRESS"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
MEDICAL_RECORD_NUMBER = "MEDICAL_RECORD_NUMBER"
HEALTH = "HEALTH"
SECRET = "SECRET"  # noqa: S105 - an entity name. API keys and other credentials (bastion.tools.scan's detectors)
PERSON = "PERSON"
LOCATION = "LOCATION"
ORGANIZATION = "ORGANIZATION"

PATTERN_ENTITIES = (EMAIL, PHONE, CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS, STREET_ADDRESS,
                    DATE_OF_BIRTH, MEDICAL_RECORD_NUMBER, HEALTH, SECRET)
NER_ENTITIES = (PERSON, LOCATION, ORGANIZATION)
ALL_ENTITIES = PATTERN_ENTITIES + NER_ENTITIES

# Identifiers that tie health information to a person (HIPAA's identifiers, roughly).
IDENTIFIERS = frozenset({EMAIL, PHONE, US_SSN, STREET_ADDRESS, DATE_OF_BIRTH,
                         MEDICAL_RECORD_NUMBER, PERSON, CREDIT_CARD, IBAN, IP_ADDRESS})

# Data classes: the constraints a request carries to the route.
PII = "pii"
PHI = "phi"
EU_PERSONAL = "eu_personal"
DATA_CLASSES = (PII, PHI, EU_PERSONAL)


@dataclass(slots=True, frozen=True)
class Finding:
    """One detected value: ``text[start:end]`` of the scanned string is ``value``."""

    entity: str
    start: int
    end: int
    score: float
    value: str

    def overlaps(self, other: Finding) -> bool:
        return self.start < other.end and other.start < self.end
