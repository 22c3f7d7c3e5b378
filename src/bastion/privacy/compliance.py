"""Compliance routing: which providers may receive a request, by its data classes.

A request's data classes (``pii``; ``phi``: health information about a person;
``eu_personal``: personal data of a key, user or team marked as EU) become rules on
the targets of its alias, from each provider's declared ``compliance``:

* ``phi`` only to providers with a BAA (``compliance.baa: true``);
* ``eu_personal`` only to providers with a DPA in an allowed region
  (``privacy.eu_regions``, default ``[eu]``);
* no personal data at all to providers that train on it (``trains_on_data: true``);
* with ``privacy.pii_requires_dpa``, personal data only to providers with a DPA.

The rules are the route's compliance predicate (``gw.route.compliance``), so every
target and every fallback (the local model included) is held to them: a fallback
never relaxes a rule. When no target of the alias qualifies, the privacy step refuses
the request up front with ``no_compliant_provider`` and a message naming the rule.
The classes are those of the request as the client sent it: pseudonymisation lowers
what a provider can learn but does not relax routing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.config.settings import Compliance
from bastion.core.context import Context
from bastion.privacy.entities import EU_PERSONAL, PHI, PII

if TYPE_CHECKING:
    from bastion.steps.route import Target

PERSONAL = frozenset({PII, PHI, EU_PERSONAL})


@dataclass(slots=True, frozen=True)
class ComplianceRules:
    eu_regions: frozenset[str] = frozenset({"eu"})
    pii_requires_dpa: bool = False

    def broken(self, classes: Iterable[str], c: Compliance) -> str | None:
        """The rule a provider with compliance ``c`` breaks for these classes, or None."""
        classes = set(classes)
        if PHI in classes and not c.baa:
            return ("health information about a person (phi) goes only to providers with a "
                    "BAA (compliance.baa)")
        if EU_PERSONAL in classes:
            regions = {r.lower() for r in c.regions}
            if not c.dpa or not regions & self.eu_regions:
                return ("personal data of EU data subjects (eu_personal) goes only to "
                        "providers with a DPA (compliance.dpa) in an allowed region "
                        f"({', '.join(sorted(self.eu_regions))})")
        if classes & PERSONAL and c.trains_on_data:
            return ("personal data never goes to providers that train on it "
                    "(compliance.trains_on_data)")
        if classes & PERSONAL and self.pii_requires_dpa and not c.dpa:
            return "personal data goes only to providers with a DPA (compliance.dpa)"
        return None

    def __call__(self, ctx: Context, target: Target) -> bool:
        return self.broken(ctx.data_classes, target.compliance) is None

    def refusal(self, alias: str, classes: Iterable[str],
                targets: Iterable[tuple[str, Compliance]]) -> str | None:
        """The message of a ``no_compliant_provider`` refusal, or None when a target
        of the alias qualifies."""
        rules: list[str] = []
        for _, c in targets:
            rule = self.broken(classes, c)
            if rule is None:
                return None
            if rule not in rules:
                rules.append(rule)
        if not rules:
            return None
        return (f"No provider configured for {alias!r} may receive this request: "
                + "; ".join(rules) + ".")
