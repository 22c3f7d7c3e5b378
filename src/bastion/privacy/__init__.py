"""Privacy and compliance: what leaves the gateway, where it may go, what is kept.

Parts:

* detection: :mod:`.patterns` (every pattern in one compiled pass, with checksums and
  context words), :mod:`.phones`, :mod:`.addresses`, :mod:`.health` (health terms tied
  to a person), :mod:`.ner` (names, spaCy's small English model, loaded lazily),
  combined by :mod:`.analyzer`;
* minimisation: :mod:`.surrogates` (realistic stand-ins), :mod:`.pseudonyms` (the
  request's map and restoring answers), :mod:`.rewrite` (the request's text pieces),
  :mod:`.policy` (actions per alias, entity type and data class), :mod:`.step`;
* routing: :mod:`.compliance` (the route's compliance predicate by data class);
* keeping and answering: :mod:`.retention` (stored bodies, events, purge),
  :mod:`.subjects` (data-subject export and erasure), :mod:`.report` (``bastion pia``);
* :mod:`.disclosure` (the AI-disclosure header and prefix).

:func:`build_steps` wires them into a gateway. When the database is unreachable the
privacy step still minimises and routes (it needs no store); events, stored bodies and
the purge are retried by their background tasks and logged, never fatal. The name
model is imported only when an alias asks for PERSON, LOCATION or ORGANIZATION.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion.app import Gateway
    from bastion.privacy.build import PrivacyParts


def build_privacy(gw: Gateway) -> PrivacyParts:
    """The disclosure and privacy steps (placed before the cache steps), the data-subject
    service and the background work, for ``gw``."""
    from bastion.privacy.build import build

    return build(gw)
