"""Settings of the privacy part (global ``privacy:`` section and ``models.<alias>.privacy``).

```yaml
guards:
  pii: pseudonymize               # the default action: pseudonymize | redact | block | allow
privacy:
  entities: [EMAIL, PHONE, CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS, STREET_ADDRESS,
             DATE_OF_BIRTH, MEDICAL_RECORD_NUMBER, HEALTH, SECRET]   # + PERSON, LOCATION,
                                  # ORGANIZATION with the `ner` extra installed
  threshold: 0.5                  # findings scoring below are ignored
  actions: {}                     # per entity type or data class (pii, phi, eu_personal,
                                  # secret): e.g. {phi: block, US_SSN: redact}
  max_scan_chars: 4194304         # more text than this in one request: 400 pii_scan_too_large
  ner_max_chars: 262144           # more text than this with names on: same refusal
  eu_subjects: {users: [], teams: [], keys: [], all: false}   # whose data is eu_personal
  eu_regions: [eu]                # regions an EU-personal request may go to (with a DPA)
  pii_requires_dpa: false         # personal data only to providers with a DPA
  retention:
    store_bodies: false           # keep minimised prompts and answers (opt-in) …
    bodies_ttl_s: 604800          # … for this long
    usage_ttl_days: null          # usage rows older than this are purged
    events_ttl_days: 400          # privacy events (counts, never values) for `bastion pia`
    purge_interval_s: 3600
  disclosure: {header: true, prefix: null}
models:
  chat:
    guards: {pii: redact}
    privacy:
      entities: [...]             # replaces the global list
      threshold: 0.6
      actions: {PERSON: pseudonymize, phi: block}   # merged over the global actions
      store_bodies: true          # overrides retention.store_bodies
      legal_basis: "contract, GDPR Art. 6(1)(b)"    # shown in the privacy impact report
      purpose: "customer support answers"
      disclosure: {header: true, prefix: "AI-generated — verify important information. "}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bastion.config.extensions import _Strict

Entity = Literal["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS",
                 "STREET_ADDRESS", "DATE_OF_BIRTH", "MEDICAL_RECORD_NUMBER", "HEALTH", "SECRET",
                 "PERSON", "LOCATION", "ORGANIZATION"]
PATTERN_DEFAULT: list[Entity] = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN",
                                 "IP_ADDRESS", "STREET_ADDRESS", "DATE_OF_BIRTH",
                                 "MEDICAL_RECORD_NUMBER", "HEALTH", "SECRET"]
Action = Literal["pseudonymize", "redact", "block", "allow"]
ACTION_KEYS = frozenset([*PATTERN_DEFAULT, "PERSON", "LOCATION", "ORGANIZATION",
                         "pii", "phi", "eu_personal", "secret"])


def _check_actions(v: dict[str, Action]) -> dict[str, Action]:
    unknown = sorted(set(v) - ACTION_KEYS)
    if unknown:
        raise ValueError(f"unknown action keys {unknown}: use entity types "
                         f"({', '.join(sorted(k for k in ACTION_KEYS if k.isupper()))}) or "
                         "data classes (pii, phi, eu_personal, secret)")
    return v


class EUSubjects(_Strict):
    """Whose personal data is ``eu_personal``: these users, teams or keys (or everyone)."""

    users: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    keys: list[str] = Field(default_factory=list)
    all: bool = False


class Retention(_Strict):
    store_bodies: bool = False
    bodies_ttl_s: float = Field(7 * 86400.0, gt=0)
    usage_ttl_days: float | None = Field(None, gt=0)
    events_ttl_days: float = Field(400.0, gt=0)
    purge_interval_s: float = Field(3600.0, gt=0)


class Disclosure(_Strict):
    """AI disclosure: ``x-bastion-ai-generated: true`` and an optional prefix on answers."""

    header: bool = True
    prefix: str | None = Field(None, max_length=500)


class PrivacySettings(_Strict):
    """The top-level ``privacy:`` section (see the module docstring)."""

    entities: list[Entity] = Field(default_factory=lambda: list(PATTERN_DEFAULT))
    threshold: float = Field(0.5, ge=0, le=1)
    actions: dict[str, Action] = Field(default_factory=dict)
    max_scan_chars: int = Field(4 * 1024 * 1024, ge=1024)
    ner_max_chars: int = Field(256 * 1024, ge=1024)
    eu_subjects: EUSubjects = Field(default_factory=EUSubjects)
    eu_regions: list[str] = Field(default_factory=lambda: ["eu"])
    pii_requires_dpa: bool = False
    retention: Retention = Field(default_factory=Retention)
    disclosure: Disclosure = Field(default_factory=Disclosure)

    _actions = field_validator("actions")(_check_actions)


class AliasPrivacy(_Strict):
    """``models.<alias>.privacy`` (see the module docstring)."""

    entities: list[Entity] | None = None
    threshold: float | None = Field(None, ge=0, le=1)
    actions: dict[str, Action] = Field(default_factory=dict)
    store_bodies: bool | None = None
    legal_basis: str | None = Field(None, max_length=500)
    purpose: str | None = Field(None, max_length=500)
    disclosure: Disclosure | None = None

    _actions = field_validator("actions")(_check_actions)
