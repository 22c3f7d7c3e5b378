"""Public test helpers: run a real gateway and real fake upstreams on loopback.

Applications use these to test their own integration: ``GatewayServer`` runs
Bastion in a background thread on an ephemeral port; ``FakeUpstream`` is an
HTTP server that speaks a provider's wire format and fails on cue;
``FakeIdentityProvider`` publishes a JWKS and signs caller tokens.
"""

from bastion.testing.idp import FakeIdentityProvider
from bastion.testing.server import GatewayServer, fake_settings
from bastion.testing.upstream import Behavior, FakeUpstream

__all__ = ["Behavior", "FakeIdentityProvider", "FakeUpstream", "GatewayServer",
           "fake_settings"]
