"""OpenTelemetry traces: a span per pipeline step and per upstream attempt.

Off unless an OTLP endpoint is configured (``resilience.otlp_endpoint`` or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``). Off costs nothing: steps are not
wrapped at all, and the route checks ``tracer.enabled`` before opening a span.
When on, the OpenTelemetry packages are imported by name, only then; they are an
optional dependency::

    pip install opentelemetry-api opentelemetry-sdk opentelemetry-exporter-otlp-proto-http

Spans of a streamed answer end when the step returns the stream, not when the
stream ends; the meter step's log line has the full duration.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

from bastion.core.context import Context, Reply
from bastion.core.pipeline import Next, Step

Attrs = Mapping[str, str | int | float | bool]


class Tracer(Protocol):
    """Opens spans. ``enabled`` is ``False`` for the no-op tracer: callers skip work."""

    enabled: bool

    def span(self, name: str, attrs: Attrs) -> AbstractContextManager[Any]: ...

    def shutdown(self) -> None: ...


class NoopTracer:
    enabled = False

    def span(self, name: str, attrs: Attrs) -> AbstractContextManager[Any]:
        return nullcontext()

    def shutdown(self) -> None:
        return None


class OtelTracer:
    """Spans through the OpenTelemetry SDK, exported over OTLP/HTTP in batches."""

    enabled = True

    def __init__(self, endpoint: str, service_name: str) -> None:
        trace = importlib.import_module("opentelemetry.trace")
        sdk = importlib.import_module("opentelemetry.sdk.trace")
        export = importlib.import_module("opentelemetry.sdk.trace.export")
        resources = importlib.import_module("opentelemetry.sdk.resources")
        otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        self._status = trace.Status
        self._error = trace.StatusCode.ERROR
        url = endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"
        resource = resources.Resource.create({"service.name": service_name})
        self._provider = sdk.TracerProvider(resource=resource)
        self._provider.add_span_processor(
            export.BatchSpanProcessor(otlp.OTLPSpanExporter(endpoint=url)))
        self._tracer = self._provider.get_tracer("bastion")

    @contextmanager
    def span(self, name: str, attrs: Attrs) -> Iterator[Any]:
        with self._tracer.start_as_current_span(name, attributes=dict(attrs)) as span:
            try:
                yield span
            except BaseException as e:
                span.set_attribute("error.type", type(e).__name__)
                span.set_status(self._status(self._error, type(e).__name__))
                raise

    def shutdown(self) -> None:
        self._provider.shutdown()


def build_tracer(endpoint: str | None, env: Mapping[str, str],
                 service_name: str = "bastion") -> Tracer:
    """The OTLP tracer when an endpoint is configured, else the no-op tracer."""
    endpoint = endpoint or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return NoopTracer()
    try:
        return OtelTracer(endpoint, env.get("OTEL_SERVICE_NAME", service_name))
    except ImportError as e:
        raise RuntimeError(
            "Tracing is configured (an OTLP endpoint is set) but OpenTelemetry is not "
            "installed: pip install opentelemetry-api opentelemetry-sdk "
            "opentelemetry-exporter-otlp-proto-http") from e


class TracedStep:
    """Wraps a step in a span named after it (only built when tracing is on)."""

    def __init__(self, step: Step, tracer: Tracer) -> None:
        self.step = step
        self.tracer = tracer
        self.name = "step." + type(step).__name__.lower()

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        with self.tracer.span(self.name, {"bastion.request_id": ctx.request_id,
                                          "bastion.alias": ctx.alias}):
            return await self.step(ctx, call_next)


def trace_steps(steps: Sequence[Step], tracer: Tracer) -> list[Step]:
    """``steps`` each wrapped in a span when ``tracer`` is on; unchanged when off."""
    if not tracer.enabled:
        return list(steps)
    return [TracedStep(s, tracer) for s in steps]
