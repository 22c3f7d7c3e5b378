"""A gateway in front of each provider kind, for tests that must hold for all of them.

``kind_gateway`` is parametrised over the in-process ``fake`` provider and loopback
upstreams speaking the OpenAI, Anthropic and Gemini wire formats; every one serves
the alias ``chat`` and answers like the fake (echo; a tool call when tools are
offered and a user turn is last; ``"The tool said: …"`` after a tool result).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES
from bastion.testing.upstream_gemini import GEMINI_ROUTES

KINDS = ("fake", "openai", "anthropic", "gemini")
_ENV = {"OPENAI_API_KEY": "sk-openai-provider-key-0000",
        "ANTHROPIC_API_KEY": "sk-ant-provider-key-0000",
        "GEMINI_API_KEY": "AIzaSyD-test-gemini-key-000000000000000"}
_TIMEOUTS = {"connect": 1000, "first_byte": 5000, "total": 10000}


@dataclass
class KindGateway:
    kind: str
    gw: GatewayServer
    key: str
    upstream: FakeUpstream | None


def provider_for(kind: str, up: FakeUpstream | None) -> dict[str, Any]:
    if kind == "fake":
        return {"type": "fake"}
    assert up is not None
    base = up.base_url + "/v1" if kind == "openai" else up.base_url
    var = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
           "gemini": "GEMINI_API_KEY"}[kind]
    return {"type": kind, "base_url": base, "api_key": f"env:{var}"}


@pytest.fixture(params=KINDS)
def kind_gateway(request: pytest.FixtureRequest) -> Iterator[KindGateway]:
    kind = request.param
    routes = {"anthropic": ANTHROPIC_ROUTES, "gemini": GEMINI_ROUTES}.get(kind)
    up = None if kind == "fake" else FakeUpstream(routes=routes).start()
    settings = {"providers": {"p": provider_for(kind, up)},
                "models": {"chat": {"targets": [f"p/{kind}-model"], "timeout_ms": _TIMEOUTS}},
                # tool results reach the provider as sent (spotlighting, on by default, is
                # tested in tests/steps/test_injection.py)
                "guards": {"injection": {"spotlight": "off"}}}
    try:
        with GatewayServer(settings, env=_ENV) as gw:
            yield KindGateway(kind, gw, gw.create_key(), up)
    finally:
        if up is not None:
            up.stop()
