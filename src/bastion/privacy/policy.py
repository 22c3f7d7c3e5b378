"""One alias's privacy policy, resolved once from the settings: what to detect and
what to do with each finding."""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.config.privacy_settings import Disclosure
from bastion.config.settings import AliasSettings, Settings
from bastion.core.context import Identity
from bastion.privacy.analyzer import Detector
from bastion.privacy.entities import (
    EU_PERSONAL,
    HEALTH,
    MEDICAL_RECORD_NUMBER,
    NER_ENTITIES,
    PHI,
    PII,
    SECRET,
    Finding,
)
from bastion.privacy.ner import NameRecogniser

SECRET_CLASS = "secret"  # noqa: S105 - a data-class name


@dataclass(slots=True, frozen=True)
class EUMarks:
    users: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()
    everyone: bool = False

    def marks(self, who: Identity | None) -> bool:
        if self.everyone:
            return True
        if who is None:
            return False
        return (who.key_id in self.keys or (who.user is not None and who.user in self.users)
                or (who.team is not None and who.team in self.teams))


@dataclass(slots=True, frozen=True)
class AliasPolicy:
    alias: str
    detector: Detector
    default: str  # the alias's guards.pii (or the global one)
    actions: dict[str, str] = field(default_factory=dict)
    store_bodies: bool = False
    disclosure: Disclosure = field(default_factory=Disclosure)
    legal_basis: str | None = None
    purpose: str | None = None

    @property
    def active(self) -> bool:
        """Whether requests are scanned at all (``allow`` with no override is a no-op)."""
        return self.default != "allow" or any(a != "allow" for a in self.actions.values())

    def action(self, f: Finding, eu: bool) -> str:
        """What to do with ``f``: its entity type's action, else its data class's, else the
        alias default. Health terms are kept under ``pseudonymize`` (a made-up diagnosis
        would make the answer wrong); routing protects them."""
        a = self.actions
        keys = [f.entity]
        if f.entity == SECRET:
            keys.append(SECRET_CLASS)
        else:
            if f.entity in (HEALTH, MEDICAL_RECORD_NUMBER):
                keys.append(PHI)
            if eu:
                keys.append(EU_PERSONAL)
            keys.append(PII)
        for k in keys:
            if k in a:
                return a[k]
        if f.entity == HEALTH and self.default == "pseudonymize":
            return "allow"
        return self.default


def build_policies(settings: Settings, names: NameRecogniser | None) -> dict[str, AliasPolicy]:
    out = {}
    for name, a in settings.models.items():
        out[name] = alias_policy(settings, name, a, names)
    return out


def alias_policy(settings: Settings, name: str, a: AliasSettings,
                 names: NameRecogniser | None) -> AliasPolicy:
    ps, ap = settings.privacy, a.privacy
    entities = frozenset(ap.entities if ap.entities is not None else ps.entities)
    threshold = ap.threshold if ap.threshold is not None else ps.threshold
    uses_names = bool(entities & set(NER_ENTITIES))
    detector = Detector(entities, threshold, names if uses_names else None)
    return AliasPolicy(
        alias=name, detector=detector, default=a.guards.pii or settings.guards.pii,
        actions={**ps.actions, **ap.actions},
        store_bodies=ap.store_bodies if ap.store_bodies is not None
        else ps.retention.store_bodies,
        disclosure=ap.disclosure or ps.disclosure,
        legal_basis=ap.legal_basis, purpose=ap.purpose)


def eu_marks(settings: Settings) -> EUMarks:
    s = settings.privacy.eu_subjects
    return EUMarks(frozenset(s.users), frozenset(s.teams), frozenset(s.keys), s.all)
