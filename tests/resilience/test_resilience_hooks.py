"""The hooks other parts plug into: stale answers from the cache, and tracing (off)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import openai
import pytest

from bastion.observe.tracing import NoopTracer, build_tracer, trace_steps
from bastion.steps.authenticate import Authenticate
from bastion.testing import Behavior, FakeUpstream, GatewayServer


def test_stale_cached_answer_is_served_when_every_target_fails(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    settings_for: Callable[..., dict[str, Any]],
) -> None:
    import time

    up = upstream_factory()
    gw = gateway_factory(settings_for({"only": up.base_url}, alias={
        "fallback_message": "busy", "cache": {"enabled": "on", "ttl_s": 0.3, "stale_ttl_s": 60}}))
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    msgs: Any = [{"role": "user", "content": "what is our refund policy?"}]
    fresh = c.chat.completions.create(model="chat", messages=msgs)
    time.sleep(0.4)  # the cached answer expires but is kept for stale-if-error
    up.default = Behavior("status", status=503)
    r = c.chat.completions.with_raw_response.create(model="chat", messages=msgs)
    assert r.headers["x-bastion-degraded"] == "cache"
    assert r.parse().choices[0].message.content == fresh.choices[0].message.content
    other = c.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "never asked before"}])
    assert other.headers["x-bastion-degraded"] == "static"  # nothing stale: next in line


def test_tracing_is_off_and_free_without_an_endpoint() -> None:
    tracer = build_tracer(None, {})
    assert isinstance(tracer, NoopTracer)
    assert not tracer.enabled
    steps: list[Any] = [Authenticate.__new__(Authenticate)]
    assert trace_steps(steps, tracer) == steps  # the very same steps: no wrapper at all


def test_tracing_configured_without_opentelemetry_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail as if the SDK were not installed.
    for name in ("opentelemetry.sdk", "opentelemetry.sdk.trace",
                 "opentelemetry.sdk.trace.export", "opentelemetry.sdk.resources",
                 "opentelemetry.exporter.otlp.proto.http.trace_exporter"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(RuntimeError, match="opentelemetry-exporter-otlp-proto-http"):
        build_tracer(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
